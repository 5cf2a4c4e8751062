namespace StampedeGuard;

/// <summary>
/// What a factory knows about the entry it computes: the key, the stale value if one exists (for a conditional
/// refresh, say with an ETag), and options it may change from what it got (adaptive caching).
/// </summary>
/// <typeparam name="T">The type of the cached value.</typeparam>
public sealed class StampedeFactoryContext<T>
{
    internal StampedeFactoryContext(string key, StampedeCacheEntryOptions options, bool hasStaleValue, T? staleValue, TimeSpan? staleAge, CancellationToken leaseLost)
    {
        Key = key;
        Options = options;
        HasStaleValue = hasStaleValue;
        StaleValue = staleValue;
        StaleAge = staleAge;
        LeaseLost = leaseLost;
    }

    /// <summary>Gets the key being computed.</summary>
    public string Key { get; }

    /// <summary>
    /// Gets this entry's options, a copy the factory may change: set <see cref="StampedeCacheEntryOptions.Duration"/>
    /// from the result (for example from an HTTP max-age), or add tags.
    /// </summary>
    public StampedeCacheEntryOptions Options { get; }

    /// <summary>Gets whether a previous value exists (stale, or fresh during an early refresh).</summary>
    public bool HasStaleValue { get; }

    /// <summary>Gets the previous value, if <see cref="HasStaleValue"/>.</summary>
    public T? StaleValue { get; }

    /// <summary>Gets how long ago the previous value was stored, if <see cref="HasStaleValue"/>.</summary>
    public TimeSpan? StaleAge { get; }

    /// <summary>
    /// Gets a token cancelled when the distributed lease of this run is lost (the lock expired and another node
    /// may be computing). The result is then still returned to local callers but is not written to the shared tier.
    /// </summary>
    public CancellationToken LeaseLost { get; }

    /// <summary>Gets whether <see cref="DoNotCache"/> was called.</summary>
    public bool IsCachingDisabled { get; private set; }

    /// <summary>
    /// Returns the result to the callers of this flight without storing it: an uncacheable answer (for example an
    /// HTTP response marked private) reaches the waiters and nobody else.
    /// </summary>
    public void DoNotCache() => IsCachingDisabled = true;
}
