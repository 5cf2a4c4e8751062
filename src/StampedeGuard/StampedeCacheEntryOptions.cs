using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard;

/// <summary>
/// Per-entry options. Times per entry: <c>freshUntil = stored + Duration</c>,
/// <c>staleUntil = freshUntil + StaleWhileRevalidate</c>, <c>keepUntil = staleUntil + StaleIfError</c>.
/// Every setter validates and throws <see cref="ArgumentOutOfRangeException"/> naming the option.
/// </summary>
public sealed class StampedeCacheEntryOptions
{
    private TimeSpan _duration = TimeSpan.FromMinutes(5);
    private TimeSpan _staleWhileRevalidate = TimeSpan.Zero;
    private TimeSpan _staleIfError = TimeSpan.Zero;
    private TimeSpan _failSafeThrottle = TimeSpan.FromSeconds(30);
    private double _earlyRefreshBeta = 1.0;
    private TimeSpan _factorySoftTimeout = Timeout.InfiniteTimeSpan;
    private TimeSpan _factoryHardTimeout = Timeout.InfiniteTimeSpan;
    private TimeSpan _lockTimeout = TimeSpan.FromSeconds(30);
    private TimeSpan _negativeCacheDuration = TimeSpan.Zero;
    private TimeSpan? _localDuration;
    private string[]? _tags;
    private StampedeEarlyRefresh _earlyRefresh = StampedeEarlyRefresh.Adaptive;

    /// <summary>Gets or sets how long a stored value is fresh.</summary>
    /// <value>Default 5 minutes. Must be positive.</value>
    public TimeSpan Duration
    {
        get => _duration;
        set => _duration = Positive(nameof(Duration), value);
    }

    /// <summary>
    /// Gets or sets how long after <see cref="Duration"/> the value may still be served while exactly one background
    /// refresh runs (RFC 5861 stale-while-revalidate). No caller waits inside this window.
    /// </summary>
    /// <value>Default zero: a value is never served older than <see cref="Duration"/> unless the factory fails.</value>
    public TimeSpan StaleWhileRevalidate
    {
        get => _staleWhileRevalidate;
        set => _staleWhileRevalidate = NonNegative(nameof(StaleWhileRevalidate), value);
    }

    /// <summary>
    /// Gets or sets the fail-safe window: how long after the stale window a value is kept to be served when the
    /// factory throws or times out (RFC 5861 stale-if-error).
    /// </summary>
    /// <value>Default zero (fail-safe off).</value>
    public TimeSpan StaleIfError
    {
        get => _staleIfError;
        set => _staleIfError = NonNegative(nameof(StaleIfError), value);
    }

    /// <summary>Gets or sets how long a fail-safe value is served before the factory is tried again, so a failing origin is not hammered.</summary>
    /// <value>Default 30 seconds.</value>
    public TimeSpan FailSafeThrottle
    {
        get => _failSafeThrottle;
        set => _failSafeThrottle = NonNegative(nameof(FailSafeThrottle), value);
    }

    /// <summary>Gets or sets how a fresh hit decides to refresh early.</summary>
    /// <value>Default <see cref="StampedeEarlyRefresh.Adaptive"/>.</value>
    public StampedeEarlyRefresh EarlyRefresh
    {
        get => _earlyRefresh;
        set => _earlyRefresh = Enum.IsDefined(value) ? value : throw OutOfRange(nameof(EarlyRefresh), value, "is not a defined value");
    }

    /// <summary>
    /// Gets or sets the early-refresh aggressiveness (XFetch's beta). Zero disables early refresh. With
    /// <see cref="StampedeEarlyRefresh.Adaptive"/> it scales the lead; with <see cref="StampedeEarlyRefresh.XFetch"/>
    /// it is the classic beta (1 is the paper's optimum; above 1 favours earlier refreshes).
    /// </summary>
    /// <value>Default 1. Must be finite and not negative.</value>
    public double EarlyRefreshBeta
    {
        get => _earlyRefreshBeta;
        set => _earlyRefreshBeta = double.IsFinite(value) && value >= 0 ? value : throw OutOfRange(nameof(EarlyRefreshBeta), value, "must be finite and not negative");
    }

    /// <summary>
    /// Gets or sets how long a caller that has a stale value waits for the factory before it gets the stale value.
    /// The factory goes on in the background and updates the cache when it completes.
    /// </summary>
    /// <value>Default <see cref="Timeout.InfiniteTimeSpan"/> (off).</value>
    public TimeSpan FactorySoftTimeout
    {
        get => _factorySoftTimeout;
        set => _factorySoftTimeout = PositiveOrInfinite(nameof(FactorySoftTimeout), value);
    }

    /// <summary>
    /// Gets or sets the longest a factory may run: past it the factory's token is cancelled and callers get a
    /// <see cref="StampedeFactoryTimeoutException"/> (or the fail-safe value, if one exists).
    /// </summary>
    /// <value>Default <see cref="Timeout.InfiniteTimeSpan"/> (off).</value>
    public TimeSpan FactoryHardTimeout
    {
        get => _factoryHardTimeout;
        set => _factoryHardTimeout = PositiveOrInfinite(nameof(FactoryHardTimeout), value);
    }

    /// <summary>
    /// Gets or sets how long a caller waits behind another caller's factory run (locally, or behind a distributed
    /// lock) before it starts a new run itself: a hung leader never blocks everyone forever.
    /// </summary>
    /// <value>Default 30 seconds.</value>
    public TimeSpan LockTimeout
    {
        get => _lockTimeout;
        set => _lockTimeout = PositiveOrInfinite(nameof(LockTimeout), value);
    }

    /// <summary>
    /// Gets or sets how long a factory's exception is cached (local tier only) when there is no fail-safe value, so
    /// a failing key is not retried on every call. Hits on a negative entry rethrow the original exception.
    /// </summary>
    /// <value>Default zero (exceptions are not cached).</value>
    public TimeSpan NegativeCacheDuration
    {
        get => _negativeCacheDuration;
        set => _negativeCacheDuration = NonNegative(nameof(NegativeCacheDuration), value);
    }

    /// <summary>Gets or sets a shorter lifetime for the local (L1) copy, so other nodes' writes are seen sooner without a backplane.</summary>
    /// <value>Default null: the L1 copy lives as long as the entry.</value>
    public TimeSpan? LocalDuration
    {
        get => _localDuration;
        set => _localDuration = value is null || value > TimeSpan.Zero ? value : throw OutOfRange(nameof(LocalDuration), value, "must be positive");
    }

    /// <summary>
    /// Gets or sets the tags of the entry, for <see cref="IStampedeCache.RemoveByTagAsync"/>. The list is copied when
    /// set. A tag may not be null, empty or white space, and <c>"*"</c> is reserved (it means "every entry":
    /// <c>RemoveByTagAsync("*")</c> clears the cache), so it cannot be an entry's tag.
    /// </summary>
    /// <value>Default none.</value>
    /// <exception cref="ArgumentException">A tag is null, empty, white space or <c>"*"</c> (the exception names <c>Tags</c>).</exception>
    public IReadOnlyList<string>? Tags
    {
        get => _tags;
        set => _tags = StampedeKeys.ValidateTags(value, nameof(Tags));
    }

    /// <summary>
    /// Gets or sets whether this call skips reading the local tier (L1): the value comes from the distributed tier or
    /// the factory. Single-flight still collapses concurrent callers of the key.
    /// </summary>
    /// <value>Default false.</value>
    public bool SkipLocalCacheRead { get; set; }

    /// <summary>Gets or sets whether this call skips writing the local tier (L1): values are stored in the distributed tier only.</summary>
    /// <value>Default false.</value>
    public bool SkipLocalCacheWrite { get; set; }

    /// <summary>Gets or sets whether the distributed tier (L2) is skipped for this entry: neither read nor written.</summary>
    /// <value>Default false.</value>
    public bool SkipDistributedCache { get; set; }

    /// <summary>
    /// Gets or sets whether the distributed barrier (cross-process lock) is skipped: single-flight stays per process.
    /// </summary>
    /// <value>Default false.</value>
    public bool SkipDistributedLock { get; set; }

    /// <summary>Creates a copy whose changes do not affect this instance.</summary>
    /// <returns>The copy.</returns>
    public StampedeCacheEntryOptions Clone() => (StampedeCacheEntryOptions)MemberwiseClone();
}
