using Microsoft.Extensions.Caching.Memory;
using StampedeGuard.Distributed;
using StampedeGuard.Internal;
using StampedeGuard.TestSupport;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public void Options_LocalCacheSizeLimit_DefaultsTo256MiB() =>
        new StampedeCacheOptions().LocalCacheSizeLimit.Should().Be(256L * 1024 * 1024);

    [Fact]
    public void Options_LocalCacheSizeLimitNotPositive_ThrowsNamingIt()
    {
        var set = () => new StampedeCacheOptions().LocalCacheSizeLimit = 0;

        set.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("LocalCacheSizeLimit");
    }

    [Fact]
    public async Task PrivateLocalTier_ThousandLargeValues_KeepsNoMoreThanLocalCacheSizeLimit()
    {
        const int valueChars = 10_000; // 20 KB each
        using var h = new CacheHarness(configure: o => o.LocalCacheSizeLimit = 1_000_000);
        for (var i = 0; i < 1_000; i++)
        {
            await h.Cache.SetAsync($"k{i}", new string('x', valueChars));
        }

        var kept = 0;
        for (var i = 0; i < 1_000; i++)
        {
            kept += (await h.Cache.TryGetAsync<string>($"k{i}")).HasValue ? 1 : 0;
        }

        kept.Should().BeInRange(1, 1_000_000 / (2 * valueChars));
    }

    [Fact]
    public async Task PrivateLocalTier_FloodOfOneTimeKeysOverTheLimit_EvictsThemBeforeAKeyThatIsRead()
    {
        const int valueChars = 5_000; // 10 KB each: the limit holds about 9
        using var h = new CacheHarness(configure: o => o.LocalCacheSizeLimit = 100_000);
        await h.Cache.SetAsync("hot", new string('h', valueChars));
        var hotMisses = 0;
        for (var i = 0; i < 1_000; i++)
        {
            await h.Cache.SetAsync($"cold{i}", new string('c', valueChars));
            hotMisses += (await h.Cache.TryGetAsync<string>("hot")).HasValue ? 0 : 1;
        }

        (hotMisses, h.Cache.Local.Size <= 100_000).Should().Be((0, true), "every compaction takes one-time keys first (CLOCK), and the tier stays under its limit");
    }

    [Fact]
    public async Task UserMemoryCache_ValueWrittenToL2_IsChargedItsPayloadBytes()
    {
        using var memory = new MemoryCache(new MemoryCacheOptions { SizeLimit = 10_000_000, TrackStatistics = true });
        using var cache = new StampedeCache(new StampedeCacheOptions(), memory, new DistributedCacheStore(CacheHarness.NewL2()));

        await cache.SetAsync("k", new string('x', 5_000));

        // One slot per key: the UTF-8 payload (5,000 bytes), the per-entry overhead and the key.
        memory.GetCurrentStatistics()!.CurrentEstimatedSize.Should().Be(5_000 + LocalTier.SlotOverheadBytes + 2);
    }

    [Fact]
    public async Task UserMemoryCache_ValueLargerThanItsSizeLimit_IsNotKeptLocally()
    {
        using var memory = new MemoryCache(new MemoryCacheOptions { SizeLimit = 10_000 });
        using var cache = new StampedeCache(new StampedeCacheOptions(), memory);

        await cache.SetAsync("big", new string('x', 20_000));
        await cache.SetAsync("small", "x");

        (await cache.TryGetAsync<string>("big")).HasValue.Should().BeFalse();
        (await cache.TryGetAsync<string>("small")).HasValue.Should().BeTrue();
    }

    [Fact]
    public async Task PrivateLocalTier_EntriesExpiredWithoutAnyTraffic_AreSweptWithinAMinute()
    {
        var clock = new FakeTimeProvider();
        using var h = new CacheHarness(clock: clock, configure: o => o.LocalSweepTimeProvider = clock);
        for (var i = 0; i < 100; i++)
        {
            await h.Cache.SetAsync($"k{i}", i, new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(1) });
        }

        var before = h.Cache.Local.Count;
        h.Clock.Advance(LocalTier.SweepInterval + TimeSpan.FromSeconds(1));

        (before, h.Cache.Local.Count, h.Cache.Local.Size).Should().Be((100, 0, 0L));
    }

    [Fact]
    public async Task PrivateLocalTier_SystemClock_EntryHitThenGoneAfterRemove()
    {
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = TimeProvider.System });
        var runs = 0;

        var first = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));
        var hit = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));
        await cache.RemoveAsync("k");
        var after = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));

        (first, hit, after, runs).Should().Be((1, 1, 2, 2));
    }
}
