namespace StampedeGuard.Internal;

/// <summary>An entry's timeline in UTC ticks, and how long its factory took (delta, for early refresh).</summary>
/// <param name="Created">When the value was stored.</param>
/// <param name="FreshUntil">End of freshness: <c>Created + Duration</c>.</param>
/// <param name="StaleUntil">End of the stale-while-revalidate window.</param>
/// <param name="KeepUntil">End of the fail-safe (stale-if-error) window.</param>
/// <param name="FactoryTicks">How long the factory took, in <see cref="TimeSpan"/> ticks.</param>
internal readonly record struct EntryTimes(long Created, long FreshUntil, long StaleUntil, long KeepUntil, long FactoryTicks)
{
    /// <summary>
    /// Whether the timeline is well-formed. <c>FreshUntil</c> may precede <c>Created</c>: another node, whose clock is
    /// behind the writer's, may have expired the entry at its own "now".
    /// </summary>
    public bool IsConsistent => Created > 0 && FreshUntil > 0 && StaleUntil >= FreshUntil && KeepUntil >= StaleUntil && KeepUntil <= DateTime.MaxValue.Ticks && FactoryTicks >= 0;

    /// <summary>
    /// Marked stale by an expiry, on no clock: fresh at no instant (whatever clock a reader judges it by, however far
    /// behind the writer's), still servable as stale until at least its original fresh end.
    /// </summary>
    public EntryTimes MarkedStale() =>
        this with { FreshUntil = 1, StaleUntil = Math.Max(StaleUntil, FreshUntil), KeepUntil = Math.Max(KeepUntil, FreshUntil) };

    public static EntryTimes From(long now, StampedeCacheEntryOptions options, long factoryTicks)
    {
        var fresh = Add(now, options.Duration.Ticks);
        var stale = Add(fresh, options.StaleWhileRevalidate.Ticks);
        return new EntryTimes(now, fresh, stale, Add(stale, options.StaleIfError.Ticks), factoryTicks);
    }

    /// <summary>Adds without overflow: any time past the calendar's end is the end (a Duration of TimeSpan.MaxValue is "forever").</summary>
    public static long Add(long time, long ticks) =>
        ticks > DateTime.MaxValue.Ticks - time ? DateTime.MaxValue.Ticks : time + ticks;

    /// <summary>Time from now to an instant, capped at a century so a store's own date arithmetic cannot overflow.</summary>
    public static TimeSpan Lifetime(long until, long now)
    {
        const long century = 36525 * TimeSpan.TicksPerDay;
        var ticks = until - now;
        return TimeSpan.FromTicks(ticks > century ? century : ticks);
    }
}
