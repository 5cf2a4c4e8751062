using Microsoft.Extensions.Internal;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>
/// A wall clock moved by hand (<see cref="Advance"/>), seen as <see cref="TimeProvider"/> by both implementations and as
/// <see cref="ISystemClock"/> by MemoryCache and MemoryDistributedCache. Derived clocks choose whether the monotonic
/// timestamp moves with it.
/// </summary>
public abstract class HandMovedClock : TimeProvider, ISystemClock
{
    private long _ticks = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public DateTimeOffset UtcNow => new(Ticks, TimeSpan.Zero);

    protected long Ticks => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => UtcNow;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
