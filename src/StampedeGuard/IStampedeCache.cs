namespace StampedeGuard;

/// <summary>
/// A cache that protects expensive work from stampedes: one factory run per key and expiry,
/// shared by every concurrent caller, with stale serving, early refresh, fail-safe and bounded waits.
/// </summary>
/// <remarks>The pipeline of a call is described in <c>docs/how-a-call-flows.md</c>.</remarks>
public interface IStampedeCache
{
    /// <summary>
    /// Returns the cached value for <paramref name="key"/>, or runs <paramref name="factory"/> once for all
    /// concurrent callers of this key and caches its result.
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key. Not null or empty, at most <see cref="StampedeCacheOptions.MaximumKeyLength"/> characters.</param>
    /// <param name="factory">Computes the value. It runs on a token owned by the flight, not on the caller's.</param>
    /// <param name="options">Per-entry options; <see cref="StampedeCacheOptions.DefaultEntryOptions"/> when null.</param>
    /// <param name="cancellationToken">Cancels this caller's wait only.</param>
    /// <returns>The cached or computed value.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null, empty or too long.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    /// <exception cref="StampedeFactoryTimeoutException">The factory exceeded <see cref="StampedeCacheEntryOptions.FactoryHardTimeout"/> and no fail-safe value existed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<T> GetOrCreateAsync<T>(
        string key,
        Func<CancellationToken, ValueTask<T>> factory,
        StampedeCacheEntryOptions? options = null,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Returns the cached value for <paramref name="key"/>, or runs <paramref name="factory"/> once for all
    /// concurrent callers of this key and caches its result. Pass a <see langword="static"/> lambda and its
    /// inputs as <paramref name="state"/> to avoid a closure: a fresh hit then allocates nothing.
    /// </summary>
    /// <typeparam name="TState">The type of the state passed to the factory.</typeparam>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key. Not null or empty, at most <see cref="StampedeCacheOptions.MaximumKeyLength"/> characters.</param>
    /// <param name="state">Passed to <paramref name="factory"/> unchanged.</param>
    /// <param name="factory">Computes the value; the context gives the key, the stale value if any, and mutable options.</param>
    /// <param name="options">Per-entry options; <see cref="StampedeCacheOptions.DefaultEntryOptions"/> when null.</param>
    /// <param name="cancellationToken">Cancels this caller's wait only.</param>
    /// <returns>The cached or computed value.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null, empty or too long.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    /// <exception cref="StampedeFactoryTimeoutException">The factory exceeded <see cref="StampedeCacheEntryOptions.FactoryHardTimeout"/> and no fail-safe value existed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<T> GetOrCreateAsync<TState, T>(
        string key,
        TState state,
        Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory,
        StampedeCacheEntryOptions? options = null,
        CancellationToken cancellationToken = default);

    /// <summary>Reads a value without creating it: L1, then L2. Never runs a factory.</summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The lookup; <see cref="StampedeCacheLookup{T}.HasValue"/> is false on a miss. Stale values are returned, flagged.</returns>
    ValueTask<StampedeCacheLookup<T>> TryGetAsync<T>(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads a value without creating it, honouring the read flags of <paramref name="options"/>
    /// (<see cref="StampedeCacheEntryOptions.SkipLocalCacheRead"/>, <see cref="StampedeCacheEntryOptions.SkipDistributedCache"/>).
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="options">Per-call options; <see cref="StampedeCacheOptions.DefaultEntryOptions"/> when null.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The lookup; <see cref="StampedeCacheLookup{T}.HasValue"/> is false on a miss. Stale values are returned, flagged.</returns>
    ValueTask<StampedeCacheLookup<T>> TryGetAsync<T>(string key, StampedeCacheEntryOptions? options, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores a value in every tier and tells other nodes through the backplane. It is an invalidation: once it has
    /// returned, no node returns and no tier stores a value whose run began before it (docs/redis.md).
    /// </summary>
    /// <typeparam name="T">The type of the value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="value">The value.</param>
    /// <param name="options">Per-entry options (duration, windows, tags).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the value is stored.</returns>
    /// <exception cref="StampedeInvalidationException">The distributed tier did not confirm it after its retries: it may not have applied there (the local tier reflects it).</exception>
    ValueTask SetAsync<T>(string key, T value, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Removes a key from every tier and from other nodes' L1 through the backplane.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="cancellationToken">Cancels the removal.</param>
    /// <returns>A task that completes when the key is removed.</returns>
    /// <exception cref="StampedeInvalidationException">The distributed tier did not confirm it after its retries: it may not have applied there (the local tier reflects it).</exception>
    ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks a key stale without removing it: the next read serves the stale value and triggers exactly one
    /// refresh (a graceful refresh without a dog-pile). The value stays servable as stale until the end of the window it
    /// would have had anyway (its original fresh time plus the stale window).
    /// </summary>
    /// <param name="key">The cache key.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the key is marked stale.</returns>
    /// <exception cref="StampedeInvalidationException">The distributed tier did not confirm it after its retries: it may not have applied there (the local tier reflects it).</exception>
    ValueTask ExpireAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Removes every entry created with <paramref name="tag"/> before now, in every tier and on every node.</summary>
    /// <param name="tag">The tag.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the tag is invalidated.</returns>
    /// <exception cref="StampedeInvalidationException">The distributed tier did not confirm it after its retries: it may not have applied there (the local tier reflects it).</exception>
    ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default);
    /// <summary>
    /// Returns the values of <paramref name="keys"/>, computing the missing ones with one call of
    /// <paramref name="factory"/> where the implementation can (<see cref="StampedeCache"/> does: one origin query for
    /// many ids, every single-key guarantee per key). The default implementation, for other implementations of this
    /// interface, calls <see cref="GetOrCreateAsync{TState, T}"/> per key, concurrently, and the factory once per key
    /// it has to compute, with the same results and failures.
    /// </summary>
    /// <typeparam name="T">The type of the cached values.</typeparam>
    /// <param name="keys">The keys; duplicates are asked for once.</param>
    /// <param name="factory">Computes the values of the keys it is given; a key it leaves out is absent from the result and nothing is stored for it.</param>
    /// <param name="options">Per-entry options for every key; the cache's defaults when null.</param>
    /// <param name="cancellationToken">Cancels this caller's wait only.</param>
    /// <returns>The value of every key that has one, by key (ordinal).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="keys"/> or <paramref name="factory"/> is null.</exception>
    /// <exception cref="ArgumentException">A key is null, empty or otherwise invalid (<c>ParamName</c> "keys").</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <remarks>A key whose run failed without a fail-safe value makes the call throw its exception (the first such key in input order) once every key has ended; the other keys' values are stored.</remarks>
    ValueTask<IReadOnlyDictionary<string, T>> GetOrCreateManyAsync<T>(
        IEnumerable<string> keys,
        Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        StampedeCacheEntryOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return GetOrCreateManyAsync(keys, factory, static (f, missing, ct) => f(missing, ct), options, cancellationToken);
    }

    /// <summary>
    /// Returns the values of <paramref name="keys"/> (see <see cref="GetOrCreateManyAsync{T}"/>), passing
    /// <paramref name="state"/> to <paramref name="factory"/> so a <see langword="static"/> lambda needs no closure.
    /// </summary>
    /// <typeparam name="TState">The type of the state passed to the factory.</typeparam>
    /// <typeparam name="T">The type of the cached values.</typeparam>
    /// <param name="keys">The keys; duplicates are asked for once.</param>
    /// <param name="state">Passed to <paramref name="factory"/> unchanged.</param>
    /// <param name="factory">Computes the values of the keys it is given; a key it leaves out is absent from the result and nothing is stored for it.</param>
    /// <param name="options">Per-entry options for every key; the cache's defaults when null.</param>
    /// <param name="cancellationToken">Cancels this caller's wait only.</param>
    /// <returns>The value of every key that has one, by key (ordinal).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="keys"/> or <paramref name="factory"/> is null.</exception>
    /// <exception cref="ArgumentException">A key is null, empty or otherwise invalid (<c>ParamName</c> "keys").</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<IReadOnlyDictionary<string, T>> GetOrCreateManyAsync<TState, T>(
        IEnumerable<string> keys,
        TState state,
        Func<TState, IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        StampedeCacheEntryOptions? options = null,
        CancellationToken cancellationToken = default) =>
        Internal.BatchByKey.GetOrCreateManyAsync(this, keys, state, factory, options, cancellationToken);
}
