using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests.Infrastructure;

/// <summary>
/// A fake clock whose wall time (<see cref="GetUtcNow"/>) can be stepped (an NTP correction, a VM resume) while its
/// monotonic timestamp and timers follow only <see cref="Advance"/>.
/// </summary>
internal sealed class SteppedWallClock : TimeProvider
{
    private readonly FakeTimeProvider _inner = new();
    private TimeSpan _step;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override long TimestampFrequency => _inner.TimestampFrequency;

    public override DateTimeOffset GetUtcNow() => _inner.GetUtcNow() + _step;

    public override long GetTimestamp() => _inner.GetTimestamp();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => _inner.CreateTimer(callback, state, dueTime, period);

    public void Advance(TimeSpan by) => _inner.Advance(by);

    /// <summary>Steps the wall clock only.</summary>
    public void StepWall(TimeSpan by) => _step += by;
}
