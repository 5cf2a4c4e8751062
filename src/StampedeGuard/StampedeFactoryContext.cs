namespace StampedeGuard;

/// <summary>
/// What a factory knows about the entry it computes: the key, the stale value if one exists (for a conditional
/// refresh, say with an ETag), and options it may change from what it got (adaptive caching).
/// </summary>
/// <typeparam name="T">The type of the cached value.</typeparam>
public sealed class StampedeFactoryContext<T>
{
    private readonly StampedeLease? _lease;
    private readonly StampedeCacheEntryOptions _callOptions;
    private StampedeCacheEntryOptions? _copy;

    internal StampedeFactoryContext(string key, StampedeCacheEntryOptions options, bool hasStaleValue, T? staleValue, TimeSpan? staleAge, StampedeLease? lease)
    {
        Key = key;
        _callOptions = options;
        HasStaleValue = hasStaleValue;
        StaleValue = staleValue;
        StaleAge = staleAge;
        _lease = lease;
    }

    /// <summary>Gets the key being computed.</summary>
    public string Key { get; }

    /// <summary>
    /// Gets this entry's options, a copy the factory may change: set <see cref="StampedeCacheEntryOptions.Duration"/>
    /// from the result (for example from an HTTP max-age), or add tags.
    /// </summary>
    /// <remarks>
    /// The copy is made the first time a factory reads this property (copy on first use): a factory that never
    /// looks at it costs no copy, and the caller's options are never changed by what a factory does here.
    /// </remarks>
    public StampedeCacheEntryOptions Options => _copy ??= _callOptions.Clone();

    /// <summary>Gets the options the result is stored with: the factory's copy if it took one, else the call's own.</summary>
    internal StampedeCacheEntryOptions EffectiveOptions => _copy ?? _callOptions;

    /// <summary>Gets whether a previous value exists (stale, or fresh during an early refresh).</summary>
    public bool HasStaleValue { get; }

    /// <summary>Gets the previous value, if <see cref="HasStaleValue"/>.</summary>
    public T? StaleValue { get; }

    /// <summary>Gets how long ago the previous value was stored, if <see cref="HasStaleValue"/>.</summary>
    public TimeSpan? StaleAge { get; }

    /// <summary>
    /// Gets a token cancelled when the distributed lease of this run is lost (the lock expired and another node
    /// may be computing). The result is then still returned to this run's own callers but stored nowhere: not in the
    /// shared tier, not locally (the engine checks the lease before accepting the result, and the store fences the
    /// write by the lease token).
    /// </summary>
    /// <remarks>
    /// What a factory can rely on: reading this property checks the lease's local deadline at that moment, so a
    /// factory that reads <c>context.LeaseLost.IsCancellationRequested</c> right before a side effect sees a lease that
    /// ran out (also after the process was paused, before any timer had a chance to fire); the engine does the same
    /// before it accepts the result. A token read once and kept (passed to an HTTP call, say) is cancelled by the
    /// store's timers, which may be some milliseconds late after a pause. The lease's local deadline is conservative
    /// (measured from when the lock request was sent), but clocks and networks are not perfect: the fenced write is
    /// the guarantee, and side effects that must happen once need their own idempotency.
    /// </remarks>
    public CancellationToken LeaseLost => _lease?.LeaseLost ?? default;

    /// <summary>Gets whether <see cref="DoNotCache"/> was called.</summary>
    public bool IsCachingDisabled { get; private set; }

    /// <summary>
    /// Returns the result to the callers of this flight without storing it: an uncacheable answer (for example an
    /// HTTP response marked private) reaches the waiters and nobody else.
    /// </summary>
    public void DoNotCache() => IsCachingDisabled = true;
}
