using Microsoft.Extensions.Internal;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>
/// A clock moved by hand, seen by both implementations (as <see cref="TimeProvider"/>) and by MemoryCache and
/// MemoryDistributedCache (as <see cref="ISystemClock"/>), so expiry is decided without waiting.
/// </summary>
public sealed class TestClock : TimeProvider, ISystemClock
{
    private long _ticks = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public DateTimeOffset UtcNow => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => UtcNow;

    // The monotonic clock moves with the hand-moved one (as FakeTimeProvider's does): an implementation that measures
    // in-process durations with GetTimestamp (StampedeGuard does) sees the same time as one that reads GetUtcNow.
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
