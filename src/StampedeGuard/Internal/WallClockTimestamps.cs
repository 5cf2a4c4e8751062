using System.Diagnostics.CodeAnalysis;
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
    /// <remarks>
    /// Trimming and Native AOT: the two methods asked about are virtual members of <see cref="TimeProvider"/> that the
    /// engine calls, so the provider's overrides are compiled, and described, with its type (checked by the AOT smoke
    /// test). Were a description missing all the same, the lookup would see <see cref="TimeProvider"/>'s method or
    /// nothing in its place: nothing, or neither override seen, uses the provider as it is; only a provider whose
    /// <c>GetUtcNow</c> override is seen without its <c>GetTimestamp</c> one would be read on its wall time. Either way the
    /// engine reads one of the provider's own clocks.
    /// </remarks>
    /// <param name="time">The configured time provider.</param>
    /// <returns>The provider the engine reads.</returns>
    [UnconditionalSuppressMessage("Trimming", "IL2072:DynamicallyAccessedMembers", Justification = "Overrides of TimeProvider's virtual clock methods are kept with the type; a missing one falls back to the provider's own timestamps (see remarks).")]
    public static TimeProvider For(TimeProvider time)
    {
        if (ReferenceEquals(time, System) || time is WallClockTimestamps)
        {
            return time;
        }

        var type = time.GetType();
        return OverridesOnlyUtcNow(type) ? new WallClockTimestamps(time) : time;
    }

    private static bool OverridesOnlyUtcNow([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods)] Type type)
    {
        const BindingFlags Public = BindingFlags.Public | BindingFlags.Instance;
        var utcNow = type.GetMethod(nameof(GetUtcNow), Public, Type.EmptyTypes);
        var timestamp = type.GetMethod(nameof(GetTimestamp), Public, Type.EmptyTypes);
        return utcNow is not null && timestamp is not null && utcNow.DeclaringType != typeof(TimeProvider) && timestamp.DeclaringType == typeof(TimeProvider);
    }
}
