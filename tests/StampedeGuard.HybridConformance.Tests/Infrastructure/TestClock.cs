namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>
/// A clock moved by hand, seen by both implementations (as <see cref="TimeProvider"/>) and by MemoryCache and
/// MemoryDistributedCache (as <see cref="Microsoft.Extensions.Internal.ISystemClock"/>), so expiry is decided without waiting.
/// </summary>
public sealed class TestClock : HandMovedClock
{
    // The monotonic clock moves with the hand-moved one (as FakeTimeProvider's does): an implementation that measures
    // in-process durations with GetTimestamp sees the same time as one that reads GetUtcNow.
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Ticks;
}
