using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task GetOrCreateAsync_EarlyRefreshFailsWithNegativeCacheDuration_FreshValueStillServed()
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromSeconds(10);
            o.NegativeCacheDuration = TimeSpan.FromSeconds(5);
        });
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();
        h.Clock.Advance(TimeSpan.FromSeconds(10) - FactoryTime);
        await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 1, "the early refresh started");

        factory.Fail(new InvalidOperationException("refresh failed"));
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the early refresh ended");
        var next = async () => await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);

        (await next.Should().NotThrowAsync("the value is still fresh; a failed background refresh must not replace it with an error"))
            .Which.Should().Be("v1");
    }

    [Fact]
    public async Task GetOrCreateAsync_StaleWindowRefreshFailsWithNegativeCacheDuration_StaleValueStillServed()
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromSeconds(10);
            o.StaleWhileRevalidate = TimeSpan.FromSeconds(10);
            o.NegativeCacheDuration = TimeSpan.FromSeconds(5);
            o.EarlyRefreshBeta = 0;
        });
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        h.Clock.Advance(TimeSpan.FromSeconds(12));
        var factory = new GatedFactory<string>();
        await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 1, "the background refresh started");

        factory.Fail(new InvalidOperationException("refresh failed"));
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the background refresh ended");
        var next = async () => await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);

        (await next.Should().NotThrowAsync("inside the stale window no caller waits or fails; the stale value stays"))
            .Which.Should().Be("v1");
    }

    [Fact]
    public async Task GetOrCreateAsync_StaleValueOnlyInL2AndRefreshFails_NextCallerStillGetsStaleValue()
    {
        var l2 = CacheHarness.NewL2();
        void Options(StampedeCacheEntryOptions o)
        {
            o.StaleWhileRevalidate = TimeSpan.FromMinutes(1);
            o.NegativeCacheDuration = TimeSpan.FromSeconds(5);
            o.EarlyRefreshBeta = 0;
        }

        using var writer = new CacheHarness(Options, l2: l2);
        using var reader = new CacheHarness(Options, clock: writer.Clock, l2: l2);
        await writer.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        writer.Clock.Advance(TimeSpan.FromSeconds(20));
        var first = await reader.Cache.GetOrCreateAsync("k", Throwing);
        await Poll.UntilAsync(() => reader.Cache.FlightCount == 0, "the failed refresh ended");

        var second = async () => await reader.Cache.GetOrCreateAsync("k", Throwing);

        first.Should().Be("v1");
        (await second.Should().NotThrowAsync("the value is inside its stale window")).Which.Should().Be("v1");
    }
}
