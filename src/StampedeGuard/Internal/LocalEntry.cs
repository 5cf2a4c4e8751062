namespace StampedeGuard.Internal;

/// <summary>
/// What the local tier (L1) keeps under a key: a typed <see cref="CacheEntry"/>, or a <see cref="RawEnvelope"/> the
/// backplane delivered. The tier's own bookkeeping lives here, in the entry, so a key costs one object and one
/// dictionary node: no wrapper, no second slot.
/// </summary>
internal abstract class LocalEntry
{
    /// <summary>Gets or sets when the local copy ends (engine ticks): the fail-safe window, capped by LocalDuration.</summary>
    public long ExpiresAt { get; set; } = long.MaxValue;

    /// <summary>Gets or sets the bytes the tier charged for this entry when it stored it (what it gives back on removal).</summary>
    public long Charged { get; set; }

    /// <summary>
    /// Gets or sets whether a read found this entry since the tier's last eviction pass (CLOCK's reference bit). A hit
    /// writes it only when it is clear, so a hot entry costs its readers no shared write.
    /// </summary>
    public bool Referenced { get; set; }

    /// <summary>
    /// Gets or sets the key's version this entry reflects (assigned by the distributed store; 0 without one). The tier
    /// never replaces an entry with one of a lower version, so a late message or read reply cannot undo a newer change.
    /// </summary>
    public long Version { get; set; }

    /// <summary>Gets or sets the shared-cache generation this entry was stored in (a cleared generation's entries are gone).</summary>
    public long Generation { get; set; }
}
