namespace StampedeGuard.Distributed;

/// <summary>
/// Carries invalidations and refreshed values between nodes so their local tiers stay coherent. An implementation
/// never delivers a node's own messages back to it.
/// </summary>
public interface IStampedeBackplane
{
    /// <summary>Publishes a message to every other node.</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the publish.</param>
    /// <returns>A task that completes when published.</returns>
    ValueTask PublishAsync(BackplaneMessage message, CancellationToken cancellationToken);

    /// <summary>Subscribes to messages from other nodes.</summary>
    /// <param name="handler">Called for each message; must not block.</param>
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

    /// <summary>Every entry with the tag in <see cref="BackplaneMessage.Key"/> created before <see cref="BackplaneMessage.Timestamp"/> is invalid.</summary>
    RemoveByTag = 3,
}

/// <summary>A backplane message.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Key">The cache key (or the tag, for <see cref="BackplaneMessageKind.RemoveByTag"/>).</param>
/// <param name="Envelope">For <see cref="BackplaneMessageKind.Set"/>: the new entry, when small enough to carry.</param>
/// <param name="Timestamp">When it happened (UTC ticks).</param>
public sealed record BackplaneMessage(BackplaneMessageKind Kind, string Key, byte[]? Envelope = null, long Timestamp = 0);
