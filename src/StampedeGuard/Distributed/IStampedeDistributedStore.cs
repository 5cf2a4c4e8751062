namespace StampedeGuard.Distributed;

/// <summary>
/// The distributed tier (L2) as the engine sees it: envelopes by key, per-key versions assigned by the store, durable
/// invalidations and, when <see cref="SupportsLocking"/>, a cross-process barrier folded into the same round trips
/// (read-or-acquire, then a fenced, versioned write that releases the lock).
/// Keys arrive with <see cref="StampedeCacheOptions.KeyPrefix"/> already applied by the engine; an implementation may add its own namespace.
/// Failure is signalled one way: an outcome of <see cref="DistributedOutcome.Unavailable"/> (a store may also throw; the
/// engine treats an exception as that outcome). Implementations: <see cref="DistributedCacheStore"/> over any
/// <c>IDistributedCache</c> (no versions, no barrier), and the native Redis store.
/// </summary>
public interface IStampedeDistributedStore
{
    /// <summary>Gets whether this store provides the distributed barrier (locks and wake-ups).</summary>
    bool SupportsLocking { get; }

    /// <summary>Reads a key's envelope and version and, when asked and the value is missing or not fresh at <see cref="DistributedReadOptions.Now"/>, tries to take its lock in the same round trip.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="options">Whether to try the lock, the time, the lease length.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The envelope if any, the key's version, the store's clock, and the lock outcome.</returns>
    ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken);

    /// <summary>
    /// Writes an envelope. With <see cref="DistributedWriteOptions.ExpectedVersion"/> the write is conditional: refused
    /// (<see cref="DistributedOutcome.Superseded"/>) if the key changed since the read that returned that version (an
    /// invalidation or another write won). With <see cref="DistributedWriteOptions.Lease"/> it is also fenced (refused
    /// with <see cref="DistributedOutcome.LeaseLost"/> unless the lease still owns the key's lock) and releases the lock.
    /// With <see cref="DistributedWriteOptions.Notify"/> it tells other nodes in the same atomic step where the store can.
    /// </summary>
    /// <param name="key">The cache key.</param>
    /// <param name="envelope">The serialized entry.</param>
    /// <param name="options">Expiry, condition, fencing lease, notification.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The outcome and the key's new version.</returns>
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

    /// <summary>
    /// Applies an invalidation (remove a key, mark it stale, invalidate a tag or everything) and, where the store is
    /// also the backplane, tells other nodes in the same atomic step. Every invalidation gives the key (or tag) a new
    /// version, so a write conditional on an older one is refused.
    /// </summary>
    /// <param name="invalidation">What to invalidate.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>Whether it applied (<see cref="DistributedOutcome.Done"/>), with its version and the store's clock.</returns>
    ValueTask<DistributedInvalidationResult> InvalidateAsync(DistributedInvalidation invalidation, CancellationToken cancellationToken);

    /// <summary>Reads when each tag (or <c>"*"</c>, everything) was last invalidated, on the store's clock.</summary>
    /// <param name="tags">The tags.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>One stamp per tag (UTC ticks on the store's clock, 0 when never invalidated), or an unavailable outcome.</returns>
    ValueTask<DistributedTagsResult> ReadTagInvalidationsAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken);
}
