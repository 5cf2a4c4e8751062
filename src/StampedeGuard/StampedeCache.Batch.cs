using System.Runtime.ExceptionServices;
using StampedeGuard.Internal;

namespace StampedeGuard;

/// <summary>
/// Batch GetOrCreate: many keys, one factory call for the ones this call has to compute. Built on the single-key
/// pipeline (docs/how-a-call-flows.md, "Many keys at once"): every key not answered by L1 runs the ordinary per-key
/// path, whose factory enters the key into the batch instead of computing it, so every single-key guarantee holds per
/// key by construction, and the per-key Redis commands of the keys go out together (pipelined).
/// </summary>
public sealed partial class StampedeCache
{
    /// <summary>
    /// Returns the values of <paramref name="keys"/>: L1 hits at once; every other key through the single-key pipeline
    /// (L2, the distributed barrier, other callers' runs), and the keys this call has to compute in ONE call of
    /// <paramref name="factory"/> (one origin query for many ids).
    /// </summary>
    /// <typeparam name="T">The type of the cached values.</typeparam>
    /// <param name="keys">The keys; duplicates are asked for once. Each follows the rules of <see cref="StampedeKeys.IsValid"/>.</param>
    /// <param name="factory">
    /// Computes the values of the keys it is given (the keys this call leads, never a key answered by a cache tier or
    /// by another caller's run), on a token cancelled once nobody waits for any of them. A key it leaves out of its
    /// dictionary is "not returned": that key's run fails, nothing is stored for it, and it is absent from the result.
    /// </param>
    /// <param name="options">Per-entry options for every key; <see cref="StampedeCacheOptions.DefaultEntryOptions"/> when null.</param>
    /// <param name="cancellationToken">Cancels this caller's wait only: runs other callers joined go on.</param>
    /// <returns>
    /// The value of every key that has one, by key (ordinal). A key the factory did not return is absent.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="keys"/> or <paramref name="factory"/> is null.</exception>
    /// <exception cref="ArgumentException">A key is null, empty or otherwise invalid (<c>ParamName</c> "keys").</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <remarks>
    /// A key whose run failed (the factory threw, a hard timeout, a run it joined failed) and had no fail-safe value
    /// makes the call throw that key's exception, unchanged (the first such key in input order), once every key has
    /// ended: the values of the other keys are stored as usual, so a retry computes only what failed.
    /// </remarks>
    public ValueTask<IReadOnlyDictionary<string, T>> GetOrCreateManyAsync<T>(
        IEnumerable<string> keys,
        Func<IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        StampedeCacheEntryOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return GetOrCreateManyAsync(keys, factory, static (f, missing, ct) => f(missing, ct), options, cancellationToken);
    }

    /// <summary>
    /// Returns the values of <paramref name="keys"/>: L1 hits at once; every other key through the single-key pipeline,
    /// and the keys this call has to compute in ONE call of <paramref name="factory"/>. Pass a
    /// <see langword="static"/> lambda and its inputs as <paramref name="state"/> to avoid a closure.
    /// </summary>
    /// <typeparam name="TState">The type of the state passed to the factory.</typeparam>
    /// <typeparam name="T">The type of the cached values.</typeparam>
    /// <param name="keys">The keys; duplicates are asked for once. Each follows the rules of <see cref="StampedeKeys.IsValid"/>.</param>
    /// <param name="state">Passed to <paramref name="factory"/> unchanged.</param>
    /// <param name="factory">
    /// Computes the values of the keys it is given, on a token cancelled once nobody waits for any of them. A key it
    /// leaves out of its dictionary is "not returned": that key's run fails, nothing is stored for it, and it is absent
    /// from the result.
    /// </param>
    /// <param name="options">Per-entry options for every key; <see cref="StampedeCacheOptions.DefaultEntryOptions"/> when null.</param>
    /// <param name="cancellationToken">Cancels this caller's wait only: runs other callers joined go on.</param>
    /// <returns>The value of every key that has one, by key (ordinal). A key the factory did not return is absent.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="keys"/> or <paramref name="factory"/> is null.</exception>
    /// <exception cref="ArgumentException">A key is null, empty or otherwise invalid (<c>ParamName</c> "keys").</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <remarks>
    /// A key whose run failed and had no fail-safe value makes the call throw that key's exception, unchanged (the
    /// first such key in input order), once every key has ended; the other keys' values are stored as usual.
    /// </remarks>
    public ValueTask<IReadOnlyDictionary<string, T>> GetOrCreateManyAsync<TState, T>(
        IEnumerable<string> keys,
        TState state,
        Func<TState, IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        StampedeCacheEntryOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(factory);
        options ??= _options.DefaultEntryOptions;
        var unique = BatchByKey.UniqueKeys(keys, _options.MaximumKeyLength);

        if (cancellationToken.IsCancellationRequested)
        {
            return new ValueTask<IReadOnlyDictionary<string, T>>(Task.FromException<IReadOnlyDictionary<string, T>>(new OperationCanceledException(cancellationToken)));
        }

        if (_disposed)
        {
            return new ValueTask<IReadOnlyDictionary<string, T>>(Task.FromException<IReadOnlyDictionary<string, T>>(new ObjectDisposedException(GetType().FullName)));
        }

        // 1. L1 hits: answered at once, never given to the factory.
        var values = new Dictionary<string, T>(unique.Count, StringComparer.Ordinal);
        List<string>? missing = null;
        foreach (var key in unique)
        {
            if (!options.SkipLocalCacheRead && TryGetFresh(key, out T value))
            {
                values[key] = value;
            }
            else
            {
                (missing ??= []).Add(key);
            }
        }

        return missing is null
            ? new ValueTask<IReadOnlyDictionary<string, T>>(values)
            : GetOrCreateMissingAsync(missing, values, new BatchCollector<TState, T>(this, state, factory), options, cancellationToken);
    }

    /// <summary>
    /// 2. Every key L1 did not answer runs the single-key pipeline at once (so their L2 reads, barrier scripts and
    /// fenced writes go out together), with a factory that enters the key into the batch; the collector calls the
    /// batch factory once every key is settled. 3. The answers, per key.
    /// </summary>
    private async ValueTask<IReadOnlyDictionary<string, T>> GetOrCreateMissingAsync<TState, T>(List<string> missing, Dictionary<string, T> values, BatchCollector<TState, T> collector, StampedeCacheEntryOptions options, CancellationToken cancellationToken)
    {
        var calls = new Task<T>[missing.Count];
        for (var i = 0; i < missing.Count; i++)
        {
            var slot = collector.NewSlot(missing[i], i);
            calls[i] = GetOrCreateAsync(missing[i], slot, BatchSlot<TState, T>.Factory, options, cancellationToken).AsTask();
            if (calls[i].IsCompleted)
            {
                slot.Settle();
            }
            else
            {
                _ = calls[i].ContinueWith(static (_, s) => ((BatchSlot<TState, T>)s!).Settle(), slot, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }

        collector.Started();

        ExceptionDispatchInfo? failure = null;
        var cancelled = false;
        for (var i = 0; i < missing.Count; i++)
        {
            try
            {
                values[missing[i]] = await calls[i].ConfigureAwait(false);
            }
            catch (BatchKeyNotReturnedException)
            {
                // Not returned by the factory (this call's round or the round of a batch it joined): absent.
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                cancelled = true;
            }
            catch (Exception ex)
            {
                failure ??= ExceptionDispatchInfo.Capture(ex);
            }
        }

        if (cancelled)
        {
            throw new OperationCanceledException(cancellationToken);
        }

        failure?.Throw();
        return values;
    }
}
