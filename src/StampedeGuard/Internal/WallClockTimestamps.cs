using System.Reflection;

namespace StampedeGuard.Internal;

/// <summary>
/// A time provider whose timestamps are its inner provider's <see cref="TimeProvider.GetUtcNow"/> in ticks: the engine's
/// view of a clock that overrides <c>GetUtcNow</c> but not <c>GetTimestamp</c> (Microsoft's HybridCache tests,
/// ISystemClock bridges, many application test clocks). Such a clock's own timestamp is the real stopwatch, which a test
/// that moves the clock by hand never moves; reading its wall time instead makes expiry, hit deadlines and measured
/// durations follow the clock the user moves. Timers and the time zone are the inner provider's.
/// </summary>
internal sealed class WallClockTimestamps(TimeProvider inner) : TimeProvider
{
    /// <summary>Gets the provider this one reads.</summary>
    public TimeProvider Inner => inner;

    /// <inheritdoc />
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <inheritdoc />
    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

    /// <inheritdoc />
    public override long GetTimestamp() => inner.GetUtcNow().UtcTicks;

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        inner.CreateTimer(callback, state, dueTime, period);

    /// <summary>
    /// The clock the engine reads for <paramref name="time"/>: the provider itself when it is the system clock or when its
    /// timestamp is its own (it overrides <c>GetTimestamp</c>, or overrides neither clock), else (it overrides only
    /// <c>GetUtcNow</c>) a view whose timestamps are its wall time. Decided once, by reflection on the provider's type.
    /// </summary>
    /// <param name="time">The configured time provider.</param>
    /// <returns>The provider the engine reads.</returns>
    public static TimeProvider For(TimeProvider time)
    {
        if (ReferenceEquals(time, System) || time is WallClockTimestamps)
        {
            return time;
        }

        var type = time.GetType();
        return OverridesOnlyUtcNow(type) ? new WallClockTimestamps(time) : time;
    }

    private static bool OverridesOnlyUtcNow(Type type)
    {
        const BindingFlags Public = BindingFlags.Public | BindingFlags.Instance;
        var utcNow = type.GetMethod(nameof(GetUtcNow), Public, Type.EmptyTypes);
        var timestamp = type.GetMethod(nameof(GetTimestamp), Public, Type.EmptyTypes);
        return utcNow is not null && timestamp is not null && utcNow.DeclaringType != typeof(TimeProvider) && timestamp.DeclaringType == typeof(TimeProvider);
    }
}
