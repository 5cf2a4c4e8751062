using System.Diagnostics;
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

    [Fact]
    public async Task GetOrCreateAsync_SystemClockCoarseHitClock_NeverServesAValuePastItsFreshness()
    {
        // A fresh hit on the system clock compares a coarse clock (Environment.TickCount64, which lags by up to a
        // timer tick); its deadline comes early by a margin (16 ms) so that no hit is late. A second of calls on a 20 ms
        // entry crosses about 50 expiries, and without the margin the calls just past each one would be late by the
        // difference of the coarse clock's lag then and when the entry was stored (up to a timer tick: 1-4 ms on Linux).
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = TimeProvider.System });
        var duration = TimeSpan.FromMilliseconds(20);
        var options = new StampedeCacheEntryOptions { Duration = duration, EarlyRefreshBeta = 0, StaleWhileRevalidate = TimeSpan.Zero, StaleIfError = TimeSpan.Zero };
        var worstLateness = TimeSpan.Zero;
        var runs = 0;
        var end = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
        while (Stopwatch.GetTimestamp() < end)
        {
            var asked = Stopwatch.GetTimestamp();
            var madeAt = await cache.GetOrCreateAsync<int, long>("k", 0, static (_, _, _) => ValueTask.FromResult(Stopwatch.GetTimestamp()), options);
            runs += madeAt >= asked ? 1 : 0;
            var age = Stopwatch.GetElapsedTime(madeAt, asked);
            if (madeAt < asked && age - duration > worstLateness)
            {
                worstLateness = age - duration;
            }
        }

        runs.Should().BeGreaterThan(20, "the loop crossed many expiries");
        worstLateness.Should().BeLessThan(TimeSpan.FromMilliseconds(0.3), "a value made at t is fresh until t + Duration (plus the microseconds between the factory's return and the entry's creation)");
    }
}
