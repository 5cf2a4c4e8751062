using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static StampedeCache SteppedCache(SteppedWallClock clock) => new(new StampedeCacheOptions
    {
        TimeProvider = clock,
        DefaultEntryOptions = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(1), EarlyRefreshBeta = 0 },
    });

    [Fact]
    public async Task GetOrCreateAsync_WallClockSteppedBackAnHour_OneSecondEntryStillExpiresAfterOneSecond()
    {
        var clock = new SteppedWallClock();
        using var cache = SteppedCache(clock);
        await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        clock.StepWall(TimeSpan.FromHours(-1));
        clock.Advance(TimeSpan.FromSeconds(2));
        var value = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2));

        value.Should().Be(2);
    }

    [Fact]
    public async Task TryGetAsync_WallClockSteppedBack_AgeFollowsElapsedTimeNeverNegative()
    {
        var clock = new SteppedWallClock();
        using var cache = SteppedCache(clock);
        await cache.SetAsync("k", 1, new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(1) });

        clock.StepWall(TimeSpan.FromHours(-1));
        clock.Advance(TimeSpan.FromSeconds(3));
        var lookup = await cache.TryGetAsync<int>("k");

        lookup.Age.Should().Be(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task RemoveByTagAsync_WallClockSteppedBackAfterwards_NewEntriesAreCachedAtOnce()
    {
        var clock = new SteppedWallClock();
        using var cache = SteppedCache(clock);
        var tagged = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(1), Tags = ["t"] };
        await cache.RemoveByTagAsync("t");

        clock.StepWall(TimeSpan.FromHours(-1));
        clock.Advance(TimeSpan.FromMilliseconds(1));
        var runs = 0;
        await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(++runs), tagged);
        await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(++runs), tagged);

        runs.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_SystemClock_ExpiryAndStaleWindowFollowRealTime()
    {
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = TimeProvider.System });
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMilliseconds(50), EarlyRefreshBeta = 0 };
        var runs = 0;
        await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options);
        var hit = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options);

        // Bounded wait for real expiry (the point of the test is the system clock path), not a sleep for an ordering.
        await Poll.UntilAsync(() => !cache.TryGetAsync<int>("k").AsTask().Result.HasValue || runs > 1, "the entry's freshness ran out");
        var after = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options);

        (hit, after, runs).Should().Be((1, 2, 2));
    }
}
