namespace StampedeGuard.Internal;

/// <summary>An entry's timeline in UTC ticks, and how long its factory took (delta, for early refresh).</summary>
/// <param name="Created">When the value was stored.</param>
/// <param name="FreshUntil">End of freshness: <c>Created + Duration</c>.</param>
/// <param name="StaleUntil">End of the stale-while-revalidate window.</param>
/// <param name="KeepUntil">End of the fail-safe (stale-if-error) window.</param>
/// <param name="FactoryTicks">How long the factory took, in <see cref="TimeSpan"/> ticks.</param>
internal readonly record struct EntryTimes(long Created, long FreshUntil, long StaleUntil, long KeepUntil, long FactoryTicks)
{
    public bool IsConsistent => Created > 0 && FreshUntil >= Created && StaleUntil >= FreshUntil && KeepUntil >= StaleUntil && FactoryTicks >= 0;

    public static EntryTimes From(long now, StampedeCacheEntryOptions options, long factoryTicks)
    {
        var fresh = now + options.Duration.Ticks;
        var stale = fresh + options.StaleWhileRevalidate.Ticks;
        return new EntryTimes(now, fresh, stale, stale + options.StaleIfError.Ticks, factoryTicks);
    }
}
