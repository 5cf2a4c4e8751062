using StampedeGuard.Distributed;

namespace StampedeGuard.Internal;

/// <summary>How a write to the distributed tier ended, and the key's version after it.</summary>
/// <param name="Outcome">The store's answer (<see cref="DistributedOutcome.Unavailable"/> when it could not be asked).</param>
/// <param name="Version">The key's version after the write; 0 when nothing was written.</param>
/// <param name="WasSkipped">Nothing was sent to the store (no store, L2 skipped, or no envelope); other nodes were still told.</param>
internal readonly record struct WriteOutcome(DistributedOutcome Outcome, long Version, bool WasSkipped = false)
{
    /// <summary>Nothing was written to the store.</summary>
    public static WriteOutcome Skipped => new(DistributedOutcome.Done, 0, WasSkipped: true);

    /// <summary>The store could not be asked.</summary>
    public static WriteOutcome Unavailable => new(DistributedOutcome.Unavailable, 0);
}
