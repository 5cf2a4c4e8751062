using Microsoft.Extensions.Caching.Memory;
using StampedeGuard.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    /// <summary>Evicts every entry of ours (IMemoryCache compaction under pressure): ours are never under plain string keys.</summary>
    private static void EvictEntriesNotUnderPlainKeys(MemoryCache memory)
    {
        foreach (var key in memory.Keys.Where(k => k is not string).ToList())
        {
            memory.Remove(key);
        }
    }

    [Fact]
    public async Task ExpireAsync_AfterMemoryPressureEvictedTheEntry_NextReadRunsTheFactoryOnce()
    {
        using var memory = new MemoryCache(new MemoryCacheOptions());
        var clock = new FakeTimeProvider();
        using var cache = new StampedeCache(
            new StampedeCacheOptions { TimeProvider = clock, DefaultEntryOptions = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 } },
            memory);
        await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        EvictEntriesNotUnderPlainKeys(memory);
        clock.Advance(TimeSpan.FromSeconds(1));

        await cache.ExpireAsync("k");
        var factory = new GatedFactory<string>();
        var read = cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1 || read.IsCompleted, "the read ran the factory or returned");
        factory.Release("v2");

        (await read, factory.Calls).Should().Be(("v2", 1), "the evicted entry is gone: the next read computes it once, never a fresh hit");
    }
}
