namespace StampedeGuard.Internal;

/// <summary>
/// What L1 keeps for a short while after a key was removed (or expired with no local copy) at a version: nothing to
/// read, but older changes (a late message, a read that left the store before the removal) cannot bring the value back.
/// </summary>
internal sealed class Tombstone : LocalEntry
{
    /// <summary>How long a tombstone is kept: longer than any read reply or message can be late.</summary>
    public static readonly long LifetimeTicks = TimeSpan.FromSeconds(30).Ticks;
}
