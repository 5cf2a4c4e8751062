using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests.Hybrid;

public sealed class StampedeHybridCacheTests : IDisposable
{
    private readonly FakeTimeProvider _clock = new();
    private readonly ServiceProvider _services;

    public StampedeHybridCacheTests()
    {
        var services = new ServiceCollection();
        services.AddStampedeGuard(o =>
        {
            o.TimeProvider = _clock;
            o.DefaultEntryOptions = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(10), EarlyRefreshBeta = 0 };
        });
        _services = services.BuildServiceProvider();
    }

    private HybridCache Cache => _services.GetRequiredService<HybridCache>();

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task RemoveByTagAsync_TaggedThroughHybridCache_NextCallRunsFactory()
    {
        await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), tags: ["t"]);
        _clock.Advance(TimeSpan.FromSeconds(1));

        await Cache.RemoveByTagAsync("t");
        _clock.Advance(TimeSpan.FromSeconds(1));
        var value = await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2), tags: ["t"]);

        value.Should().Be(2);
    }

    [Fact]
    public async Task SetAsyncThenRemoveAsync_ThroughHybridCache_NextCallRunsFactory()
    {
        await Cache.SetAsync("k", 5);
        var set = await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(6));

        await Cache.RemoveAsync("k");
        var after = await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(7));

        (set, after).Should().Be((5, 7));
    }
}
