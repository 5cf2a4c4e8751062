namespace StampedeGuard.Tests.Infrastructure;

/// <summary>
/// A test clock that overrides only <see cref="TimeProvider.GetUtcNow"/>, moved by hand, as Microsoft's HybridCache tests,
/// ISystemClock bridges and many application test clocks are: its <see cref="TimeProvider.GetTimestamp"/> and timers
/// are still the real ones.
/// </summary>
internal sealed class UtcNowOnlyClock : TimeProvider
{
    private long _ticks = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
