using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static readonly TimeSpan FactoryTime = TimeSpan.FromMilliseconds(200);

    /// <summary>Many concurrent hits on "k"; every one must be served <paramref name="expected"/> without waiting for a refresh.</summary>
    private static async Task HitManyTimesAsync(CacheHarness h, GatedFactory<string> factory, string expected)
    {
        var hits = await StartConcurrentAsync(Callers, () => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask());
        (await Poll.Within(Task.WhenAll(hits), "the hits")).Should().OnlyContain(v => v == expected);
    }

    /// <summary>Fills the key with a factory that takes <see cref="FactoryTime"/> on the fake clock (measured delta).</summary>
    private static async Task FillWithMeasuredFactoryAsync(CacheHarness h, string value)
    {
        var factory = new GatedFactory<string>();
        var call = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1, "the first factory run started");
        h.Clock.Advance(FactoryTime);
        factory.Release(value);
        await Poll.Within(call, "the first value");
    }

    [Fact]
    public async Task GetOrCreateAsync_AdaptiveHotKeyOverManyExpiries_RefreshesOncePerExpiryWithNoCallerWaiting()
    {
        using var h = new CacheHarness(o => o.Duration = TimeSpan.FromSeconds(10));
        var step = TimeSpan.FromMilliseconds(50);
        var factory = new GatedFactory<string>();
        var first = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1, "the first run started");
        h.Clock.Advance(step);
        factory.Release("v0");
        await Poll.Within(first, "the first value");

        var waited = 0;
        var released = 1;
        const int periods = 5;
        var end = h.Clock.GetUtcNow() + TimeSpan.FromSeconds(10 * periods) + TimeSpan.FromMilliseconds(500);
        while (h.Clock.GetUtcNow() < end)
        {
            h.Clock.Advance(step);
            if (factory.Calls > released)
            {
                // The refresh started on the previous step has taken one step of fake time: let it finish.
                factory.Release("v" + factory.Calls);
                released = factory.Calls;
                await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the refresh stored its value");
            }

            for (var i = 0; i < 20; i++)
            {
                var hit = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
                if (!hit.IsCompleted)
                {
                    waited++;
                }
            }

            if (h.Cache.FlightCount > 0)
            {
                // A refresh was started by these hits: the factory runs on the thread pool; let it begin before the
                // clock moves on (the test thread never yields otherwise).
                await Poll.UntilAsync(() => factory.Calls > released, "the refresh's factory started");
            }
        }

        waited.Should().Be(0, "an early refresh never makes a caller wait");
        factory.Calls.Should().Be(1 + periods, "one refresh per expiry, whatever the request rate");
        h.Metrics.Counter("stampedeguard.early_refreshes").Should().Be(periods);
        h.Metrics.Requests("miss").Should().Be(1);
        factory.Release("last");
    }

    [Fact]
    public async Task GetOrCreateAsync_AdaptiveFarFromExpiry_DoesNotRefresh()
    {
        using var h = new CacheHarness(o => o.Duration = TimeSpan.FromSeconds(10));
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();

        for (var i = 0; i < 8; i++)
        {
            h.Clock.Advance(TimeSpan.FromSeconds(1));
            for (var j = 0; j < 100; j++)
            {
                (await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync)).Should().Be("v1");
            }
        }

        factory.Calls.Should().Be(0);
        h.Metrics.Counter("stampedeguard.early_refreshes").Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_AdaptiveWithinMeasuredFactoryTimeOfExpiry_StartsBackgroundRefresh()
    {
        using var h = new CacheHarness(o => o.Duration = TimeSpan.FromSeconds(10));
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();

        // The refresh must start at least one factory time before expiry to be ready when the value expires.
        h.Clock.Advance(TimeSpan.FromSeconds(10) - FactoryTime);
        var hit = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);

        hit.IsCompletedSuccessfully.Should().BeTrue("an early refresh never makes the caller wait");
        (await hit).Should().Be("v1");
        await Poll.UntilAsync(() => factory.Calls == 1, "the early refresh started");
        factory.Release("v2");
    }

    [Fact]
    public async Task GetOrCreateAsync_AdaptiveRefreshBlockedUnderManyHits_RunsOneRefresh()
    {
        using var h = new CacheHarness(o => o.Duration = TimeSpan.FromSeconds(10));
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();
        h.Clock.Advance(TimeSpan.FromSeconds(10) - FactoryTime);

        await HitManyTimesAsync(h, factory, expected: "v1");
        await Poll.UntilAsync(() => factory.Calls >= 1, "the early refresh started");
        factory.Release("v2");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the refresh finished");

        factory.Calls.Should().Be(1);
        (await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync)).Should().Be("v2");
    }

    [Fact]
    public async Task GetOrCreateAsync_XFetchManyHitsNearExpiry_RunsOneRefreshAtATime()
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromSeconds(10);
            o.EarlyRefresh = StampedeEarlyRefresh.XFetch;
            o.EarlyRefreshBeta = 1;
        });
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();

        // 200 ms before expiry with delta = 200 ms and beta = 1, each hit refreshes with probability 1/e.
        h.Clock.Advance(TimeSpan.FromSeconds(10) - FactoryTime);
        await HitManyTimesAsync(h, factory, expected: "v1");
        await Poll.UntilAsync(() => factory.Calls >= 1, "an XFetch refresh started");
        factory.Release("v2");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the refresh finished");

        factory.Calls.Should().Be(1);
        h.Metrics.Counter("stampedeguard.early_refreshes").Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_XFetchFarFromExpiry_DoesNotRefresh()
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromSeconds(10);
            o.EarlyRefresh = StampedeEarlyRefresh.XFetch;
            o.EarlyRefreshBeta = 1;
        });
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();

        // delta * beta * 37 = 7.4 s: before that, -delta * beta * ln(u) cannot reach expiry for any double u.
        h.Clock.Advance(TimeSpan.FromSeconds(2));
        for (var i = 0; i < Callers; i++)
        {
            await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        }

        factory.Calls.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_EarlyRefreshBetaZero_NeverRefreshesBeforeExpiry()
    {
        using var h = new CacheHarness(o => o.EarlyRefreshBeta = 0);
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();

        h.Clock.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        for (var i = 0; i < 100; i++)
        {
            await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        }

        factory.Calls.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_EarlyRefresh_FactoryContextCarriesCurrentValue()
    {
        using var h = new CacheHarness();
        await FillWithMeasuredFactoryAsync(h, "v1");
        h.Clock.Advance(TimeSpan.FromSeconds(10) - FactoryTime);
        var seen = new TaskCompletionSource<(bool, string?)>(TaskCreationOptions.RunContinuationsAsynchronously);

        await h.Cache.GetOrCreateAsync<TaskCompletionSource<(bool, string?)>, string>("k", seen, static (s, context, _) =>
        {
            s.TrySetResult((context.HasStaleValue, context.StaleValue));
            return ValueTask.FromResult("v2");
        });

        (await Poll.Within(seen.Task, "the refresh")).Should().Be((true, "v1"));
    }
}
