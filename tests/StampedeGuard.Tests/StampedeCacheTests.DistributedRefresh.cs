using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task GetOrCreateAsync_AdaptiveEarlyRefreshWithL2_RunsFactoryBeforeExpiry()
    {
        using var h = new CacheHarness(o => o.Duration = TimeSpan.FromSeconds(10), l2: CacheHarness.NewL2());
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();
        h.Clock.Advance(TimeSpan.FromSeconds(10) - FactoryTime);

        var hit = await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 1 || h.Cache.FlightCount == 0, "the early refresh ran its factory or ended");
        factory.Release("v2");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the early refresh ended");

        hit.Should().Be("v1");
        factory.Calls.Should().Be(1, "an early refresh must recompute; the value it finds in L2 is the one it is replacing");
        (await h.Cache.TryGetAsync<string>("k")).Value.Should().Be("v2");
    }

    [Fact]
    public async Task GetOrCreateAsync_XFetchEarlyRefreshWithL2_RunsFactoryBeforeExpiry()
    {
        using var h = new CacheHarness(
            o =>
            {
                o.Duration = TimeSpan.FromSeconds(10);
                o.EarlyRefresh = StampedeEarlyRefresh.XFetch;
                o.EarlyRefreshBeta = 1;
            },
            l2: CacheHarness.NewL2());
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();
        h.Clock.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromMilliseconds(10));

        // 10 ms before expiry with delta 200 ms: each hit refreshes with probability e^-0.05 (about 0.95).
        for (var i = 0; i < 100 && h.Metrics.Counter("stampedeguard.early_refreshes") == 0; i++)
        {
            await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        }

        await Poll.UntilAsync(() => factory.Calls == 1 || h.Cache.FlightCount == 0, "the early refresh ran its factory or ended");
        factory.Release("v2");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the early refresh ended");

        h.Metrics.Counter("stampedeguard.early_refreshes").Should().Be(1);
        factory.Calls.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_StaleWindowValueOnlyInL2_CallerGetsItWithoutWaitingAndOneRefreshRuns()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(StaleWindow, l2: l2);
        using var reader = new CacheHarness(StaleWindow, clock: writer.Clock, l2: l2);
        await writer.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        writer.Clock.Advance(TimeSpan.FromSeconds(15));
        var factory = new GatedFactory<string>();

        var calls = Enumerable.Range(0, 50).Select(_ => reader.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask()).ToList();

        calls.Should().OnlyContain(c => c.IsCompletedSuccessfully, "nobody waits inside the stale window");
        (await Task.WhenAll(calls)).Should().OnlyContain(v => v == "v1");
        await Poll.UntilAsync(() => factory.Calls >= 1, "the refresh's factory started"); // factories start on the thread pool
        factory.Calls.Should().Be(1);
        factory.Release("v2");
        await Poll.UntilAsync(() => reader.Cache.FlightCount == 0, "the refresh finished");
        (await writer.Cache.TryGetAsync<string>("k")).Value.Should().Be("v1", "the writer's L1 still holds its copy");
        (await reader.Cache.GetOrCreateAsync("k", factory.InvokeAsync)).Should().Be("v2");
    }

    [Fact]
    public async Task GetOrCreateAsync_FailSafeValueOnlyInL2_ReturnedWhenFactoryThrows()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(o => { o.StaleIfError = TimeSpan.FromMinutes(1); o.EarlyRefreshBeta = 0; }, l2: l2);
        using var reader = new CacheHarness(o => { o.StaleIfError = TimeSpan.FromMinutes(1); o.EarlyRefreshBeta = 0; }, clock: writer.Clock, l2: l2);
        await writer.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("good"));
        writer.Clock.Advance(TimeSpan.FromSeconds(30));

        var value = await reader.Cache.GetOrCreateAsync("k", Throwing);

        value.Should().Be("good");
        reader.Metrics.Counter("stampedeguard.fail_safe.activations").Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryReturnsNull_NullCachedWithoutError()
    {
        using var h = new CacheHarness(l2: CacheHarness.NewL2());
        var runs = 0;

        var first = await h.Cache.GetOrCreateAsync<string?>("k", _ => { runs++; return ValueTask.FromResult<string?>(null); });
        var second = await h.Cache.GetOrCreateAsync<string?>("k", _ => { runs++; return ValueTask.FromResult<string?>("x"); });

        (first, second, runs).Should().Be((null, null, 1));
    }

    [Fact]
    public async Task GetOrCreateAsync_FailSafeValueOnlyInAsyncL2_LeaderGetsItAfterSoftTimeout()
    {
        var l2 = new AsyncDistributedCache(CacheHarness.NewL2());
        void Options(StampedeCacheEntryOptions o)
        {
            o.StaleIfError = TimeSpan.FromMinutes(1);
            o.FactorySoftTimeout = TimeSpan.FromSeconds(1);
            o.EarlyRefreshBeta = 0;
        }

        using var writer = new CacheHarness(Options, l2: l2);
        using var reader = new CacheHarness(Options, clock: writer.Clock, l2: l2);
        await writer.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("old"));
        writer.Clock.Advance(TimeSpan.FromSeconds(30));
        var factory = new GatedFactory<string>();

        // The store answers only once the caller is waiting, as a network round trip would.
        l2.HoldReads();
        var call = reader.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => reader.Metrics.TotalRequests == 1, "the caller is waiting on its flight");
        l2.OpenReads();
        await Poll.UntilAsync(() => factory.Calls == 1, "the slow factory started");
        writer.Clock.Advance(TimeSpan.FromSeconds(1));

        try
        {
            (await Poll.Within(call, "the soft timeout", ShortBound)).Should().Be("old", "a stale value exists (in L2), so the soft timeout applies");
        }
        finally
        {
            factory.Release("new");
        }
    }

    private static void StaleWindow(StampedeCacheEntryOptions o)
    {
        o.Duration = TimeSpan.FromSeconds(10);
        o.StaleWhileRevalidate = TimeSpan.FromSeconds(10);
        o.EarlyRefreshBeta = 0;
    }
}
