using System.ComponentModel;

namespace StampedeGuard.Stampede;

/// <summary>
/// The cached value: a rendered page that knows when its factory call completed (UTC ticks). Immutable and sealed,
/// so HybridCache keeps the instance in L1 instead of a serialized copy (its documented advice).
/// </summary>
[ImmutableObject(true)]
internal sealed record LandingPage(long ProducedAt);
