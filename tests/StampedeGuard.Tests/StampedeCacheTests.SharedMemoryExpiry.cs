#pragma warning disable CS0618 // MemoryCacheOptions.Clock (ISystemClock) runs the memory cache on a test clock.
using System.Diagnostics;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests;

/// <summary>
/// Over the application's IMemoryCache, our entries leave it soon after their lifetime (no 10-minute slack), on the
/// engine's clock, and never before the engine says so, whatever clock the memory cache runs on.
/// </summary>
public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task UserMemoryCache_SystemClocks_ExpiredEntriesLeaveTheMemoryCacheSoonAfterTheirLifetime()
    {
        using var memory = new MemoryCache(new MemoryCacheOptions { ExpirationScanFrequency = TimeSpan.FromMilliseconds(20), TrackStatistics = true });
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = TimeProvider.System }, memory);
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMilliseconds(200) };
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 1_000; i++)
        {
            await cache.SetAsync($"k{i}", i, options);
        }

        var stored = memory.GetCurrentStatistics()!.CurrentEntryCount;

        // Bounded wait for real expiry (the point is the system clocks' path); each probe lets MemoryCache start a scan.
        await Poll.UntilAsync(() => !memory.TryGetValue("probe", out _) && memory.Count == 0, "the expired entries left the memory cache");

        (stored, memory.GetCurrentStatistics()!.CurrentEntryCount).Should().Be((1_000L, 0L));
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "entries of 200 ms are reclaimed within a scan or so of their end, not 10 minutes later");
    }

    [Fact]
    public async Task UserMemoryCache_EngineOnATestClock_ExpiredEntriesAreReclaimedOnTheEnginesClock()
    {
        var engineClock = new FakeTimeProvider();
        var memoryClock = new FakeTimeProvider();
        using var memory = new MemoryCache(new MemoryCacheOptions { Clock = new FakeSystemClock(memoryClock), ExpirationScanFrequency = TimeSpan.FromSeconds(1) });
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = engineClock }, memory);
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(1) };
        for (var i = 0; i < 100; i++)
        {
            await cache.SetAsync($"k{i}", i, options);
        }

        var stored = memory.Count;
        engineClock.Advance(TimeSpan.FromMinutes(2));
        memoryClock.Advance(TimeSpan.FromSeconds(2)); // past the memory cache's scan interval, far from 1 minute on its clock

        await Poll.UntilAsync(() => !memory.TryGetValue("probe", out _) && memory.Count == 0, "the memory cache's scan dropped what the engine's clock expired");
        stored.Should().Be(100);
    }

    [Fact]
    public async Task UserMemoryCache_MemoryCacheClockRunsAhead_EntryStaysUntilTheEnginesClockEndsIt()
    {
        var engineClock = new FakeTimeProvider();
        var memoryClock = new FakeTimeProvider();
        using var memory = new MemoryCache(new MemoryCacheOptions { Clock = new FakeSystemClock(memoryClock) });
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = engineClock }, memory);
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(1), EarlyRefreshBeta = 0 };
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(Interlocked.Increment(ref runs));
        await cache.GetOrCreateAsync("k", Factory, options);

        memoryClock.Advance(TimeSpan.FromHours(1));
        var hit = await cache.GetOrCreateAsync("k", Factory, options);
        engineClock.Advance(TimeSpan.FromMinutes(2));
        var after = await cache.GetOrCreateAsync("k", Factory, options);

        (hit, after, runs).Should().Be((1, 2, 2));
    }

    [Fact]
    public async Task UserMemoryCache_SharedTestClock_ExpiredEntryGoneOnItsNextLookup()
    {
        var clock = new FakeTimeProvider();
        using var memory = new MemoryCache(new MemoryCacheOptions { Clock = new FakeSystemClock(clock), TrackStatistics = true });
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }, memory);
        await cache.SetAsync("k", 1, new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(10) });

        clock.Advance(TimeSpan.FromSeconds(9));
        var alive = memory.TryGetValue("k", out _);
        clock.Advance(TimeSpan.FromSeconds(1));
        var gone = !memory.TryGetValue("k", out _);

        (alive, gone, memory.GetCurrentStatistics()!.CurrentEntryCount).Should().Be((true, true, 0L));
    }

    [Fact]
    public void UserMemoryCache_BothOnTheSystemClock_TheMemoryCacheExpiresOurEntriesItself()
    {
        using var system = new MemoryCache(new MemoryCacheOptions());
        using var onATestClock = new MemoryCache(new MemoryCacheOptions { Clock = new FakeSystemClock(new FakeTimeProvider()) });
        using var bothSystem = new StampedeCache(new StampedeCacheOptions(), system);
        using var engineOnATestClock = new StampedeCache(new StampedeCacheOptions { TimeProvider = new FakeTimeProvider() }, system);
        using var cacheOnATestClock = new StampedeCache(new StampedeCacheOptions(), onATestClock);

        // Pins the MemoryCache internals read to tell its clock: if a package update hides them, entries still end on
        // time (by token), but every hit would poll the engine's clock.
        (bothSystem.Local.SharedExpiresOnItsOwnClock, engineOnATestClock.Local.SharedExpiresOnItsOwnClock, cacheOnATestClock.Local.SharedExpiresOnItsOwnClock)
            .Should().Be((true, false, false));
    }

    [Fact]
    public void UseRegisteredMemoryCache_AddMemoryCacheOnTheSystemClock_TheMemoryCacheExpiresOurEntriesItself()
    {
        var services = new ServiceCollection().AddMemoryCache();
        using var provider = services.AddStampedeGuard().UseRegisteredMemoryCache().Services.BuildServiceProvider();

        provider.GetRequiredService<StampedeCache>().Local.SharedExpiresOnItsOwnClock.Should().BeTrue();
    }
}
