using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task GetOrCreateAsync_MissCollapsedHitAndStale_CountedByResult()
    {
        using var h = StaleWindowHarness();
        var factory = new GatedFactory<string>();
        var leader = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        var waiters = Enumerable.Range(0, 2).Select(_ => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask()).ToList();
        factory.Release("v1");
        await Poll.Within(Task.WhenAll(waiters.Append(leader)), "the first flight");
        for (var i = 0; i < 3; i++)
        {
            await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        }

        h.Clock.Advance(TimeSpan.FromSeconds(15));
        for (var i = 0; i < 4; i++)
        {
            await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        }

        factory.Release("v2");
        (h.Metrics.Requests("miss"), h.Metrics.Requests("collapsed"), h.Metrics.Requests("hit"), h.Metrics.Requests("stale"))
            .Should().Be((1, 2, 3, 4));
        h.Metrics.TotalRequests.Should().Be(10);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryRunsAndErrors_Counted()
    {
        using var h = new CacheHarness();

        await h.Cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(1));
        var failing = async () => await h.Cache.GetOrCreateAsync<int>("b", _ => throw new InvalidOperationException());
        await failing.Should().ThrowAsync<InvalidOperationException>();

        (h.Metrics.Counter("stampedeguard.factory.runs"), h.Metrics.Counter("stampedeguard.factory.errors")).Should().Be((2, 1));
    }

    [Fact]
    public async Task Meter_TwoCacheInstances_DoNotShareCounts()
    {
        using var a = new CacheHarness();
        using var b = new CacheHarness();

        await a.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        b.Metrics.TotalRequests.Should().Be(0);
        a.Metrics.TotalRequests.Should().Be(1);
        a.Cache.Meter.Name.Should().Be("StampedeGuard");
    }
}
