namespace StampedeGuard.Internal;

/// <summary>
/// What one <c>GetOrCreateAsync</c> call brings to a run: the key, the caller's state and factory, and the entry
/// options. A value (no allocation): copied into a run and, if one is needed, its replacement.
/// </summary>
/// <typeparam name="TState">The factory's state.</typeparam>
/// <typeparam name="T">The value type.</typeparam>
/// <param name="Key">The cache key.</param>
/// <param name="State">The caller's state, passed to the factory.</param>
/// <param name="Factory">The caller's factory.</param>
/// <param name="Options">The entry options of the call.</param>
internal readonly record struct Call<TState, T>(string Key, TState State, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> Factory, StampedeCacheEntryOptions Options);
