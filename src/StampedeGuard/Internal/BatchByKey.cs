using System.Runtime.ExceptionServices;

namespace StampedeGuard.Internal;

/// <summary>
/// The default batch of <see cref="IStampedeCache"/> for implementations other than <see cref="StampedeCache"/>: one
/// <see cref="IStampedeCache.GetOrCreateAsync{TState, T}"/> per key, concurrently, the batch factory called with the
/// one key each run computes. Same results and failures as the engine's batch, without its one-call factory.
/// </summary>
internal static class BatchByKey
{
    public static async ValueTask<IReadOnlyDictionary<string, T>> GetOrCreateManyAsync<TState, T>(
        IStampedeCache cache,
        IEnumerable<string> keys,
        TState state,
        Func<TState, IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory,
        StampedeCacheEntryOptions? options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(factory);
        var unique = UniqueKeys(keys, int.MaxValue); // the implementation's own length limit applies per key

        var runs = new Task<T>[unique.Count];
        for (var i = 0; i < unique.Count; i++)
        {
            runs[i] = cache.GetOrCreateAsync<(TState State, Func<TState, IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> Factory, string Key), T>(
                unique[i],
                (state, factory, unique[i]),
                static async (run, _, ct) =>
                {
                    var values = await run.Factory(run.State, [run.Key], ct).ConfigureAwait(false);
                    return values is not null && values.TryGetValue(run.Key, out var value) ? value : throw new BatchKeyNotReturnedException(run.Key);
                },
                options,
                cancellationToken).AsTask();
        }

        try
        {
            await Task.WhenAll(runs).ConfigureAwait(false);
        }
        catch
        {
            // Every key has ended; each is judged below, in input order.
        }

        cancellationToken.ThrowIfCancellationRequested();
        var result = new Dictionary<string, T>(unique.Count, StringComparer.Ordinal);
        for (var i = 0; i < runs.Length; i++)
        {
            var run = runs[i];
            if (run.IsCompletedSuccessfully)
            {
                result[unique[i]] = run.Result;
            }
            else if (run.Exception?.InnerException is { } error and not BatchKeyNotReturnedException)
            {
                ExceptionDispatchInfo.Throw(error);
            }
            else if (run.IsCanceled)
            {
                await run.ConfigureAwait(false); // rethrows its cancellation
            }
        }

        return result;
    }

    /// <summary>The keys of a batch in input order, each once, validated (an invalid one throws naming "keys").</summary>
    public static List<string> UniqueKeys(IEnumerable<string> keys, int maximumLength)
    {
        var unique = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            StampedeKeys.Validate(key, maximumLength, nameof(keys));
            if (seen.Add(key))
            {
                unique.Add(key);
            }
        }

        return unique;
    }
}
