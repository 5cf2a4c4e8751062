using System.Diagnostics;
using System.Runtime.CompilerServices;
using StampedeGuard.Internal;

namespace StampedeGuard;

/// <summary>The engine's clocks: engine time (monotonic ticks), the timestamps runs are timed with, and the hit clock.</summary>
public sealed partial class StampedeCache
{
    /// <summary>
    /// The engine's time in UTC ticks: the wall clock when the cache was created, moved on by the monotonic timestamp.
    /// Every in-process duration (freshness, stale and fail-safe windows, throttles, tag invalidations, ages) is
    /// measured on it, so a wall clock stepped back or forward changes none of them. The same ticks go into L2
    /// envelopes, where another node reads them against its own: skew between nodes is tolerated there.
    /// The timestamp is the time provider's: <see cref="Stopwatch"/> for the system clock, the provider's own
    /// <c>GetTimestamp</c> for one that overrides it, and for one that overrides only <c>GetUtcNow</c> that wall time
    /// in ticks (<see cref="WallClockTimestamps"/>, chosen once at construction), so such a clock drives expiry.
    /// </summary>
    private long Now() => TicksAt(Timestamp());

    /// <summary>The engine's time at a timestamp of the time provider.</summary>
    private long TicksAt(long timestamp) => _anchorTicks + TicksBetween(_anchorTimestamp, timestamp);

    /// <summary>The ticks between two timestamps of the time provider.</summary>
    private long TicksBetween(long from, long to) => _ticksPerTimestamp == 1.0 ? to - from : (long)((to - from) * _ticksPerTimestamp);

    /// <summary>The time provider's timestamp (the system clock's without a virtual call: this is on the hit path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Timestamp() => _systemClock ? Stopwatch.GetTimestamp() : _time.GetTimestamp();

    /// <summary>
    /// The clock a fresh hit compares with the entry's <c>CacheEntry.HitDeadline</c>: for the system clock
    /// <see cref="Environment.TickCount64"/> (a coarse monotonic clock read in a few nanoseconds, where a precise
    /// timestamp costs as much as the whole lookup), else the time provider's own timestamp (test clocks: exact).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long HitClock() => _systemClock ? Environment.TickCount64 : _time.GetTimestamp();

    /// <summary>The <see cref="HitClock"/> reading <paramref name="ticks"/> from now (rounded down: never later).</summary>
    private long HitClockAfter(long ticks) =>
        _systemClock ? Environment.TickCount64 + (ticks / TimeSpan.TicksPerMillisecond) : _time.GetTimestamp() + (long)(ticks / _ticksPerTimestamp);

    /// <summary>
    /// The <see cref="HitClock"/> reading before which <see cref="Now"/> is surely before <paramref name="ticks"/>.
    /// A test clock's is exact. The system's coarse clock lags by up to one timer tick (1-16 ms) and may drift from
    /// the precise one, so its deadline comes early by a margin (16 ms plus 1/8192 of the time left): a hit inside the
    /// margin takes the slow path, which checks the precise clock. Fast hits are never late, only sometimes early.
    /// </summary>
    private long HitDeadlineFor(long ticks)
    {
        if (ticks >= DateTime.MaxValue.Ticks)
        {
            return long.MaxValue; // "forever"
        }

        if (!_systemClock)
        {
            return ToTimestamp(ticks);
        }

        var coarse = Environment.TickCount64; // read first: a lag here only makes the deadline earlier
        return CoarseHitDeadline(coarse, (ticks - Now()) / TimeSpan.TicksPerMillisecond);
    }

    /// <summary>
    /// The coarse clock's deadline for an entry fresh for <paramref name="millisecondsLeft"/> more, read at
    /// <paramref name="coarseNow"/>: early by 16 ms (the coarse clock may lag by up to a timer tick, 16 ms at most on
    /// any platform .NET runs on, when the entry is stored and when it is read) plus 1/8192 of the time left (drift
    /// between the coarse and the precise clock); <see cref="long.MinValue"/> (no fast hit) inside the margin.
    /// </summary>
    internal static long CoarseHitDeadline(long coarseNow, long millisecondsLeft)
    {
        var margin = 16 + (millisecondsLeft / 8192);
        return millisecondsLeft <= margin ? long.MinValue : coarseNow + millisecondsLeft - margin;
    }

    /// <summary>
    /// The timestamp at which <see cref="Now"/> reaches <paramref name="ticks"/>: <c>Now() &lt; ticks</c> exactly when
    /// <c>GetTimestamp() &lt; ToTimestamp(ticks)</c> (exact for whole ratios of tick to timestamp frequency).
    /// </summary>
    private long ToTimestamp(long ticks)
    {
        var elapsed = ticks - _anchorTicks;
        if (_ticksPerTimestamp == 1.0)
        {
            return elapsed >= long.MaxValue - _anchorTimestamp ? long.MaxValue : _anchorTimestamp + elapsed;
        }

        var timestamps = Math.Ceiling(elapsed / _ticksPerTimestamp);
        return timestamps >= long.MaxValue - _anchorTimestamp ? long.MaxValue : _anchorTimestamp + (long)timestamps;
    }
}
