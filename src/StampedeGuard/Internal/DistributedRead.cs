using StampedeGuard.Distributed;

namespace StampedeGuard.Internal;

/// <summary>
/// What one read of the distributed tier found: the key's entry as this node may use it (null when the store has
/// none, or none this node may serve), the lock if the read took it, else how long another node still holds it, and
/// the key's version and the store's clock at the read. <see cref="Outcome"/> is the store's answer; a call that failed
/// and was answered as "nothing there" reads as <see cref="DistributedOutcome.Done"/> with nothing found, as the
/// store's own default answer does.
/// </summary>
/// <typeparam name="T">The type of the cached value.</typeparam>
/// <param name="Outcome">The store's answer.</param>
/// <param name="Entry">The entry found, decoded, marked stale if it was expired, carrying <paramref name="Version"/>; null if none.</param>
/// <param name="Version">The key's version at the read (0: absent, or a store without versions).</param>
/// <param name="Stamp">The store's clock at the read; 0 if the reply did not carry it.</param>
/// <param name="Lease">The key's lock, when the read took it: the caller releases it.</param>
/// <param name="LockHeldFor">How long another node still holds the key's lock, when it does.</param>
/// <param name="At">The engine's time when the reply arrived, before its entry was decoded: what the reply is judged at.</param>
internal readonly record struct DistributedRead<T>(DistributedOutcome Outcome, CacheEntry<T>? Entry, long Version, long Stamp, StampedeLease? Lease, TimeSpan? LockHeldFor, long At);
