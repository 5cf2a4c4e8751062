namespace StampedeGuard.Distributed;

/// <summary>
/// The distributed tier (L2) as the engine sees it: envelopes by key and, when <see cref="SupportsLocking"/>, a
/// cross-process barrier folded into the same round trips (read-or-acquire, then write-and-release).
/// Keys arrive with <see cref="StampedeCacheOptions.KeyPrefix"/> already applied by the engine; an implementation may add its own namespace.
/// Implementations: <see cref="DistributedCacheStore"/> over any <c>IDistributedCache</c>, and the native Redis store.
/// </summary>
public interface IStampedeDistributedStore
{
    /// <summary>Gets whether this store provides the distributed barrier (locks and wake-ups).</summary>
    bool SupportsLocking { get; }

    /// <summary>Reads a key's envelope and, when asked and the value is missing or not fresh at <see cref="DistributedReadOptions.Now"/>, tries to take its lock in the same round trip.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="options">Whether to try the lock, the time, the lease length.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The envelope if any, and the lock outcome.</returns>
    ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken);

    /// <summary>
    /// Writes an envelope. With <see cref="DistributedWriteOptions.Lease"/>, the write is fenced (refused unless the lease
    /// still owns the key's lock) and releases the lock; with <see cref="DistributedWriteOptions.Notify"/> it wakes waiters
    /// and tells other nodes, in the same round trip where the store can.
    /// </summary>
    /// <param name="key">The cache key.</param>
    /// <param name="envelope">The serialized entry.</param>
    /// <param name="options">Expiry, fencing lease, notification.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>Whether the value was written and whether the store already notified.</returns>
    ValueTask<DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, DistributedWriteOptions options, CancellationToken cancellationToken);

    /// <summary>
    /// Waits until the holder of a key's lock publishes a value or releases the lock, at most <paramref name="maxWait"/>,
    /// then returns what is stored. Implementations wake on a push notification and re-check when the lease would expire,
    /// so a lost notification costs at most one lease.
    /// </summary>
    /// <param name="key">The cache key.</param>
    /// <param name="maxWait">The longest wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The stored envelope after the wait, if any.</returns>
    ValueTask<DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken);

    /// <summary>Removes a key's envelope.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="cancellationToken">Cancels the removal.</param>
    /// <returns>A task that completes when removed.</returns>
    ValueTask RemoveAsync(string key, CancellationToken cancellationToken);
}

/// <summary>Whether a read also tries to take the key's lock.</summary>
public enum DistributedLockMode
{
    /// <summary>Read only.</summary>
    None = 0,

    /// <summary>Take the lock if the value is missing or not fresh at <see cref="DistributedReadOptions.Now"/>.</summary>
    AcquireIfNotFresh = 1,
}

/// <summary>Options of <see cref="IStampedeDistributedStore.ReadAsync"/>.</summary>
/// <param name="LockMode">Whether to try to take the lock.</param>
/// <param name="Now">The current time, to judge freshness.</param>
/// <param name="LeaseDuration">The lease length if the lock is taken.</param>
public readonly record struct DistributedReadOptions(DistributedLockMode LockMode, DateTimeOffset Now, TimeSpan LeaseDuration);

/// <summary>The outcome of a read.</summary>
/// <param name="Envelope">The stored envelope, or null.</param>
/// <param name="Lease">The lease, when the read took the lock.</param>
/// <param name="LockHeldFor">When another holder has the lock: how long its lease has left.</param>
public readonly record struct DistributedReadResult(byte[]? Envelope, StampedeLease? Lease = null, TimeSpan? LockHeldFor = null);

/// <summary>Options of <see cref="IStampedeDistributedStore.WriteAsync"/>.</summary>
/// <param name="TimeToLive">How long the store keeps the envelope: to the end of the entry's fail-safe window.</param>
/// <param name="FreshUntil">When the value stops being fresh (for stores that judge freshness server-side).</param>
/// <param name="Lease">The lease to fence the write with and release, or null for an unfenced write.</param>
/// <param name="Notify">Whether to wake waiters and tell other nodes.</param>
public readonly record struct DistributedWriteOptions(TimeSpan TimeToLive, DateTimeOffset FreshUntil, StampedeLease? Lease = null, bool Notify = true);

/// <summary>The outcome of a write.</summary>
/// <param name="Written">False when the write did not happen: refused because the lease was lost, or, with
/// <paramref name="Unavailable"/>, because the store could not be asked.</param>
/// <param name="Notified">True when the store already woke waiters and told other nodes (the engine then does not publish).</param>
/// <param name="Unavailable">True when the store could not be reached (or the request came too late to act on): the
/// write did not happen, but the lease is not known to be lost, so the engine treats it as a store failure (the run
/// keeps its value locally), never as a refused fenced write.</param>
public readonly record struct DistributedWriteResult(bool Written, bool Notified, bool Unavailable = false);
