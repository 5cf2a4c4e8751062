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

    [Theory]
    [InlineData(17)]
    [InlineData(20)]
    [InlineData(1_000)]
    [InlineData(3_600_000)]
    [InlineData(86_400_000)]
    public void CoarseHitDeadline_CoarseClockLaggingUpTo16msAtStoreAndAtRead_NeverLetsAHitBeLate(long millisecondsLeft)
    {
        // Worst case: the coarse clock was exact when the entry was stored and lags 16 ms when it is read. A read at
        // coarse time c passes while c < deadline; the real time then is c + 16, which must still be before the
        // entry's real end (stored at 1,000 + millisecondsLeft), with drift of 1/8192 of the time left on top.
        const long storedAt = 1_000;
        var deadline = StampedeCache.CoarseHitDeadline(storedAt, millisecondsLeft);
        var realEnd = storedAt + millisecondsLeft;

        if (deadline != long.MinValue)
        {
            (deadline - 1 + 16).Should().BeLessThan(realEnd - (millisecondsLeft / 8192), "the last read that passes must be before the end even at the worst lag and drift");
            deadline.Should().BeGreaterThan(realEnd - 16 - (millisecondsLeft / 8192) - 2, "and it is no earlier than it needs to be");
        }
        else
        {
            millisecondsLeft.Should().BeLessThanOrEqualTo(16 + (millisecondsLeft / 8192), "only an entry inside the margin gets no fast hit");
        }
    }

    [Fact]
    public async Task GetOrCreateAsync_SystemClockCoarseHitClock_NeverServesAValuePastItsFreshness()
    {
        // End to end on the real clocks: a fresh hit on the system clock compares a coarse clock
        // (Environment.TickCount64); its deadline comes early by a margin (pinned by the test above) so that no hit is
        // late. Calls on a 20 ms entry until 40 expiries were crossed (about a second; up to ten on a loaded machine).
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = TimeProvider.System });
        var duration = TimeSpan.FromMilliseconds(20);
        var options = new StampedeCacheEntryOptions { Duration = duration, EarlyRefreshBeta = 0, StaleWhileRevalidate = TimeSpan.Zero, StaleIfError = TimeSpan.Zero };
        var worstLateness = TimeSpan.Zero;
        var runs = 0;
        long current = -1, currentStoredBy = 0;
        var end = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (runs < 40 && Stopwatch.GetTimestamp() < end)
        {
            var asked = Stopwatch.GetTimestamp();
            var madeAt = await cache.GetOrCreateAsync<int, long>("k", 0, static (_, _, _) => ValueTask.FromResult(Stopwatch.GetTimestamp()), options);
            var returned = Stopwatch.GetTimestamp();
            if (madeAt >= asked)
            {
                // This call ran the factory: the entry was created before it returned, so it is fresh until
                // `returned + Duration` at the latest. Measuring from `returned` never makes a hit look late (a pause
                // between the factory and the store, a GC, only moves the entry's creation later).
                (runs, current, currentStoredBy) = (runs + 1, madeAt, returned);
            }
            else if (madeAt == current && Stopwatch.GetElapsedTime(currentStoredBy, asked) - duration > worstLateness)
            {
                worstLateness = Stopwatch.GetElapsedTime(currentStoredBy, asked) - duration;
            }
        }

        runs.Should().BeGreaterThan(20, "the loop crossed many expiries");
        worstLateness.Should().BeLessThan(TimeSpan.FromMilliseconds(0.3), "a value stored by a call that returned at t is never served to a call that starts after t + Duration");
    }
}
