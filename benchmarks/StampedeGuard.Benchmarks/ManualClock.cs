using Microsoft.Extensions.Internal;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// A lock-free clock that moves only when told, so an entry can be held at a chosen distance from expiry. It is also
/// the L1 <c>MemoryCache</c>'s clock, so L1 slots expire by the same time as the engine's decisions, as in production.
/// </summary>
public sealed class ManualClock : TimeProvider, ISystemClock
{
    private long _ticks = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public DateTimeOffset UtcNow => GetUtcNow();

    public override DateTimeOffset GetUtcNow() => new(Volatile.Read(ref _ticks), TimeSpan.Zero);

    public override long GetTimestamp() => Volatile.Read(ref _ticks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
