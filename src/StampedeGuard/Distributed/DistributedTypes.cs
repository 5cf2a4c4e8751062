namespace StampedeGuard.Distributed;

/// <summary>How a call to the distributed tier ended.</summary>
public enum DistributedOutcome
{
    /// <summary>Done as asked.</summary>
    Done = 0,

    /// <summary>The store could not be asked, or did not answer in time: nothing is known to have happened.</summary>
    Unavailable = 1,

    /// <summary>A conditional write was refused: the key changed since the read it was based on (an invalidation won).</summary>
    Superseded = 2,

    /// <summary>A fenced write was refused: the lease no longer owns the key's lock (it expired; another holder may have written).</summary>
    LeaseLost = 3,
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
public readonly struct DistributedReadOptions
{
    /// <summary>Gets whether to try to take the lock.</summary>
    public DistributedLockMode LockMode { get; init; }

    /// <summary>Gets the current time, to judge freshness.</summary>
    public DateTimeOffset Now { get; init; }

    /// <summary>Gets the lease length if the lock is taken.</summary>
    public TimeSpan LeaseDuration { get; init; }

    /// <summary>
    /// Gets whether the result must carry the store's clock (<see cref="DistributedReadResult.Stamp"/>) whatever the
    /// read finds. When false, a store with a cheaper read for a value fresh at <see cref="Now"/> (Redis: a plain hash
    /// read, no script) may answer such a value without its clock (Stamp 0; the version is still the key's). The engine
    /// sets it when it learns the store's clock, and when it holds a copy that is no longer fresh (the read then most
    /// likely starts a run, whose origin is that clock); a store without a clock of its own ignores it.
    /// </summary>
    public bool RequireStamp { get; init; }
}

/// <summary>The outcome of a read.</summary>
public readonly struct DistributedReadResult
{
    /// <summary>Gets whether the store answered (<see cref="DistributedOutcome.Done"/>) or could not be asked.</summary>
    public DistributedOutcome Outcome { get; init; }

    /// <summary>Gets the stored envelope, or null.</summary>
    public byte[]? Envelope { get; init; }

    /// <summary>Gets whether the value was marked stale by an expiry since it was written.</summary>
    public bool Expired { get; init; }

    /// <summary>
    /// Gets the key's version at the read (0 when the store keeps none): a write conditional on it is refused if the key
    /// changed since. Versions grow with every change of the key, so nodes order a key's changes by them.
    /// </summary>
    public long Version { get; init; }

    /// <summary>
    /// Gets the store's clock at the read, in UTC ticks (0 when the store has no clock of its own, or answered a fresh
    /// value without it: see <see cref="DistributedReadOptions.RequireStamp"/>).
    /// </summary>
    public long Stamp { get; init; }

    /// <summary>Gets the lease, when the read took the lock.</summary>
    public StampedeLease? Lease { get; init; }

    /// <summary>Gets how long another holder's lease has left, when another holder has the lock.</summary>
    public TimeSpan? LockHeldFor { get; init; }
}

/// <summary>Options of <see cref="IStampedeDistributedStore.WriteAsync"/>.</summary>
public readonly struct DistributedWriteOptions
{
    /// <summary>Gets how long the store keeps the envelope: to the end of the entry's fail-safe window.</summary>
    public TimeSpan TimeToLive { get; init; }

    /// <summary>Gets when the value stops being fresh (for stores that judge freshness server-side).</summary>
    public DateTimeOffset FreshUntil { get; init; }

    /// <summary>
    /// Gets the version the write is conditional on (the <see cref="DistributedReadResult.Version"/> of the read the
    /// value was computed after), or null for an unconditional write (an explicit set, itself an invalidation).
    /// </summary>
    public long? ExpectedVersion { get; init; }

    /// <summary>Gets the <see cref="DistributedReadResult.Stamp"/> of that read: a store may refuse a write based on a read too old to judge.</summary>
    public long ReadStamp { get; init; }

    /// <summary>
    /// Gets, for a write with no <see cref="ExpectedVersion"/> that must still not undo a change (a run that could not
    /// read the store), the instant on the store's clock (UTC ticks) after which any change of the key refuses the
    /// write (<see cref="DistributedOutcome.Superseded"/>); 0 for none.
    /// </summary>
    public long UnchangedSince { get; init; }

    /// <summary>Gets the lease to fence the write with and release, or null for an unfenced write.</summary>
    public StampedeLease? Lease { get; init; }

    /// <summary>Gets whether to wake waiters and tell other nodes.</summary>
    public bool Notify { get; init; }

    /// <summary>
    /// Gets, for a conditional write, the entry's tags (with "*"), so a store that can check them in the same atomic
    /// step refuses a write whose run began before one of them was invalidated; null for none.
    /// </summary>
    public IReadOnlyList<string>? Tags { get; init; }
}

/// <summary>The outcome of a write.</summary>
public readonly struct DistributedWriteResult
{
    /// <summary>Gets how the write ended.</summary>
    public DistributedOutcome Outcome { get; init; }

    /// <summary>Gets whether the value was written.</summary>
    public bool Written => Outcome == DistributedOutcome.Done;

    /// <summary>Gets the key's version after the write (0 when the store keeps none).</summary>
    public long Version { get; init; }

    /// <summary>Gets whether the store already woke waiters and told other nodes (the engine then does not publish).</summary>
    public bool Notified { get; init; }
}

/// <summary>What an invalidation does.</summary>
public enum DistributedInvalidationKind
{
    /// <summary>Removes the key.</summary>
    Remove = 0,

    /// <summary>Marks the key's value stale (kept for stale serving and fail-safe).</summary>
    Expire = 1,

    /// <summary>Invalidates every entry carrying the tag in <see cref="DistributedInvalidation.Key"/> (<c>"*"</c>: every entry).</summary>
    Tag = 2,
}

/// <summary>An invalidation for <see cref="IStampedeDistributedStore.InvalidateAsync"/>.</summary>
public readonly struct DistributedInvalidation
{
    /// <summary>Gets what to do.</summary>
    public DistributedInvalidationKind Kind { get; init; }

    /// <summary>Gets the cache key, or the tag.</summary>
    public string Key { get; init; }

    /// <summary>Gets whether to tell other nodes (in the same atomic step where the store can).</summary>
    public bool Notify { get; init; }

    /// <summary>Gets the engine's time of the invalidation (UTC ticks), for stores that have no clock of their own.</summary>
    public long Timestamp { get; init; }

    /// <summary>Gets, for <see cref="DistributedInvalidationKind.Expire"/> on a store that rewrites the entry, how long to keep it.</summary>
    public TimeSpan TimeToLive { get; init; }
}

/// <summary>The outcome of an invalidation.</summary>
public readonly struct DistributedInvalidationResult
{
    /// <summary>Gets whether it applied (<see cref="DistributedOutcome.Done"/>) or may not have (<see cref="DistributedOutcome.Unavailable"/>).</summary>
    public DistributedOutcome Outcome { get; init; }

    /// <summary>Gets the key's (or tag's) new version (0 when the store keeps none).</summary>
    public long Version { get; init; }

    /// <summary>Gets when it applied, on the store's clock, in UTC ticks (0 when the store has no clock).</summary>
    public long Stamp { get; init; }

    /// <summary>Gets whether the store already told other nodes.</summary>
    public bool Notified { get; init; }
}

/// <summary>The outcome of <see cref="IStampedeDistributedStore.ReadTagInvalidationsAsync"/>.</summary>
public readonly struct DistributedTagsResult
{
    /// <summary>Gets whether the store answered.</summary>
    public DistributedOutcome Outcome { get; init; }

    /// <summary>Gets one stamp per tag asked for: when it was last invalidated (UTC ticks on the store's clock), 0 if never.</summary>
    public IReadOnlyList<long>? Stamps { get; init; }
}
