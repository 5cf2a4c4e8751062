using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static CacheHarness StaleWindowHarness() => new(o =>
    {
        o.Duration = TimeSpan.FromSeconds(10);
        o.StaleWhileRevalidate = TimeSpan.FromSeconds(10);
        o.EarlyRefreshBeta = 0;
    });

    /// <summary>Stores "v1", moves into its stale window and makes one stale hit, which starts a gated background refresh.</summary>
    private static async Task<GatedFactory<string>> StartStaleWindowRefreshAsync(CacheHarness h)
    {
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        h.Clock.Advance(TimeSpan.FromSeconds(15));
        var factory = new GatedFactory<string>();
        await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 1, "the background refresh started");
        return factory;
    }

    [Fact]
    public async Task GetOrCreateAsync_InsideStaleWindow_ManyCallersGetStaleValueWithoutWaiting()
    {
        using var h = StaleWindowHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        h.Clock.Advance(TimeSpan.FromSeconds(15));
        var factory = new GatedFactory<string>();

        var calls = Enumerable.Range(0, 200).Select(_ => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync)).ToList();

        calls.Should().OnlyContain(c => c.IsCompletedSuccessfully, "no caller waits for the refresh (its factory is blocked)");
        foreach (var call in calls)
        {
            (await call).Should().Be("v1");
        }

        factory.Release("v2");
    }

    [Fact]
    public async Task GetOrCreateAsync_InsideStaleWindowUnderConcurrentCallers_RunsExactlyOneBackgroundRefresh()
    {
        using var h = StaleWindowHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        h.Clock.Advance(TimeSpan.FromSeconds(15));
        var factory = new GatedFactory<string>();

        var calls = await StartConcurrentAsync(Callers, () => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask());
        await Poll.UntilAsync(() => factory.Calls == 1, "the background refresh started");
        var served = await Poll.Within(Task.WhenAll(calls), "the stale callers");
        factory.Release("v2");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the refresh finished");

        served.Should().OnlyContain(v => v == "v1");
        factory.Calls.Should().Be(1);
        h.Metrics.Requests("stale").Should().Be(Callers);
        h.Metrics.Counter("stampedeguard.background_refreshes").Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_AfterBackgroundRefreshCompletes_ServesRefreshedValueAsFresh()
    {
        using var h = StaleWindowHarness();
        var factory = await StartStaleWindowRefreshAsync(h);

        factory.Release("v2");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the refresh finished");
        var value = await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);

        value.Should().Be("v2");
        factory.Calls.Should().Be(1);
        (await h.Cache.TryGetAsync<string>("k")).IsStale.Should().BeFalse();
    }

    [Fact]
    public async Task GetOrCreateAsync_PastStaleWindow_CallerWaitsForFactory()
    {
        using var h = StaleWindowHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        h.Clock.Advance(TimeSpan.FromSeconds(20));
        var factory = new GatedFactory<string>();

        var call = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        call.IsCompleted.Should().BeFalse("a value past Duration + StaleWhileRevalidate is not served");
        await Poll.UntilAsync(() => factory.Calls == 1, "the factory started");
        factory.Release("v2");

        (await Poll.Within(call, "the caller")).Should().Be("v2");
    }
}
