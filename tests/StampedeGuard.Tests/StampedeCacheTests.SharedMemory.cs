using Microsoft.Extensions.Caching.Memory;
using StampedeGuard.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    /// <summary>Evicts what IMemoryCache compaction evicts first under pressure: the entries a hit never touches.</summary>
    private static void EvictEntriesNotUnderPlainKeys(MemoryCache memory)
    {
        foreach (var key in memory.Keys.Where(k => k is not string).ToList())
        {
            memory.Remove(key);
        }
    }

    [Fact]
    public async Task ExpireAsync_AfterMemoryPressureEvictedNonHotData_NextReadIsNotAFreshHit()
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
        await cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 1 || cache.FlightCount == 0, "a refresh started or none did");
        factory.Release("v2");
        await Poll.UntilAsync(() => cache.FlightCount == 0, "the refresh finished");

        factory.Calls.Should().Be(1, "ExpireAsync marks the entry stale: the next read triggers one refresh");
    }
}
