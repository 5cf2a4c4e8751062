namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>
/// A clock that overrides only <see cref="TimeProvider.GetUtcNow"/>, as Microsoft's own HybridCache tests, ISystemClock
/// bridges and many application test clocks do: its <see cref="TimeProvider.GetTimestamp"/> is still the real
/// stopwatch, which does not move when the test advances the clock.
/// </summary>
public sealed class UtcNowOnlyClock : HandMovedClock
{
}
