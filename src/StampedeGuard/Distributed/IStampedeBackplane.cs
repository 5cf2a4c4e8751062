namespace StampedeGuard.Distributed;

/// <summary>
/// Carries invalidations and refreshed values between nodes so their local tiers stay coherent. An implementation
/// never delivers a node's own messages back to it, and delivers one sender's messages in the order they were sent
/// (a node applies a key's changes in version order and ignores older ones).
/// </summary>
public interface IStampedeBackplane
{
    /// <summary>Publishes a message to every other node.</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the publish.</param>
    /// <returns>A task that completes when published.</returns>
    ValueTask PublishAsync(BackplaneMessage message, CancellationToken cancellationToken);

    /// <summary>Subscribes to messages from other nodes.</summary>
    /// <param name="handler">Called for each message, one at a time; must not block.</param>
    /// <returns>Disposing it ends the subscription.</returns>
    IDisposable Subscribe(Action<BackplaneMessage> handler);
}

/// <summary>What a backplane message asks of the receiving nodes.</summary>
public enum BackplaneMessageKind
{
    /// <summary>A value was written: replace the local copy with <see cref="BackplaneMessage.Envelope"/>, or drop it if absent.</summary>
    Set = 0,

    /// <summary>A key was removed.</summary>
    Remove = 1,

    /// <summary>A key was marked stale.</summary>
    Expire = 2,

    /// <summary>Every entry with the tag in <see cref="BackplaneMessage.Key"/> whose run began before <see cref="BackplaneMessage.Timestamp"/> is invalid.</summary>
    RemoveByTag = 3,

    /// <summary>
    /// Raised by a backplane to its own node only, never published: messages may have been lost (the subscription
    /// broke, a heartbeat went missing) or the store lost or rolled back its data (a restart, a failover). The node
    /// drops its in-memory copies and what it knew of tag invalidations, and reads the store again.
    /// </summary>
    Reset = 4,

    /// <summary>
    /// Raised by a backplane to its own node only, never published: its own heartbeat came back, so no message
    /// published before the heartbeat was sent was lost. The node may serve its in-memory copies, and let new callers
    /// join runs begun before its last reset, for <see cref="BackplaneMessage.Timestamp"/> (a duration in ticks) from
    /// now without hearing the next one: the backplane's trust period counted from the heartbeat's send time, not from
    /// its arrival (a heartbeat that waited out a pause vouches for nothing after it was sent). Past that (a paused
    /// process, a silent subscription) the node drops its copies before serving any. A backplane that never raises it
    /// leaves the copies trusted.
    /// </summary>
    Alive = 5,
}

/// <summary>A backplane message.</summary>
public sealed class BackplaneMessage
{
    /// <summary>Gets what happened.</summary>
    public BackplaneMessageKind Kind { get; init; }

    /// <summary>Gets the cache key (or the tag, for <see cref="BackplaneMessageKind.RemoveByTag"/>).</summary>
    public string Key { get; init; } = string.Empty;

    /// <summary>Gets, for <see cref="BackplaneMessageKind.Set"/>, the new entry when small enough to carry.</summary>
    public byte[]? Envelope { get; init; }

    /// <summary>Gets the key's version after the change (0 when the store keeps none): older changes are ignored.</summary>
    public long Version { get; init; }

    /// <summary>Gets when it happened, in UTC ticks on the store's clock where there is one (else the sender's).</summary>
    public long Timestamp { get; init; }
}
