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
    /// <c>GetUtcNow</c>) a view whose timestamps are its wall time. Decided once, from delegates bound to the provider's
    /// two clock methods: a delegate binds to the override the provider's type has, and names where it is declared.
    /// </summary>
    /// <remarks>
    /// Trimming and Native AOT: the AOT compiler describes every method a delegate may bind to, where it need not describe
    /// a type's methods for <see cref="Type.GetMethod(string)"/> (that lookup missed a clock's <c>GetUtcNow</c> override in
    /// the AOT smoke test). Should a description be missing all the same, the provider is used as it is: its own timestamps.
    /// </remarks>
    /// <param name="time">The configured time provider.</param>
    /// <returns>The provider the engine reads.</returns>
    public static TimeProvider For(TimeProvider time) =>
        ReferenceEquals(time, System) || time is WallClockTimestamps || !OverridesOnlyUtcNow(time) ? time : new WallClockTimestamps(time);

    private static bool OverridesOnlyUtcNow(TimeProvider time)
    {
        Func<DateTimeOffset> utcNow = time.GetUtcNow;
        Func<long> timestamp = time.GetTimestamp;
        try
        {
            return utcNow.Method.DeclaringType != typeof(TimeProvider) && timestamp.Method.DeclaringType == typeof(TimeProvider);
        }
        catch (Exception)
        {
            return false; // no description of the methods (reflection turned off): the provider's own timestamps
        }
    }
}
