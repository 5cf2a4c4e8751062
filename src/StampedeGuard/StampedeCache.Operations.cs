using StampedeGuard.Distributed;
using StampedeGuard.Internal;

namespace StampedeGuard;

/// <summary>The explicit operations (read, write, remove, expire, invalidate by tag) and how they supersede runs in progress.</summary>
public sealed partial class StampedeCache
{
    /// <inheritdoc />
    public ValueTask<StampedeCacheLookup<T>> TryGetAsync<T>(string key, CancellationToken cancellationToken = default) =>
        TryGetAsync<T>(key, null, cancellationToken);

    /// <summary>
    /// Reads a value without creating it, honouring the read flags of <paramref name="options"/>
    /// (<see cref="StampedeCacheEntryOptions.SkipLocalCacheRead"/>, <see cref="StampedeCacheEntryOptions.SkipDistributedCache"/>).
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="options">Per-call options; <see cref="StampedeCacheOptions.DefaultEntryOptions"/> when null.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The lookup; <see cref="StampedeCacheLookup{T}.HasValue"/> is false on a miss. Stale values are returned, flagged.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is not a valid key (see <see cref="StampedeKeys"/>).</exception>
    public async ValueTask<StampedeCacheLookup<T>> TryGetAsync<T>(string key, StampedeCacheEntryOptions? options, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        options ??= _options.DefaultEntryOptions;
        var entry = GetLocal<T>(key, options, Now());
        if (entry is null && UsesL2(options))
        {
            var read = await SafeL2Async(key, "read", static (store, k, t) => store.ReadAsync(k, default, t), cancellationToken).ConfigureAwait(false);
            LearnStamp(read.Stamp);
            entry = await DecodeReadAsync<T>(key, read, options).ConfigureAwait(false);
        }

        var now = Now();
        return entry is null || entry.Error is not null || now >= entry.Times.KeepUntil
            ? default
            : new StampedeCacheLookup<T>(entry.Value, entry.IsFailSafe || now >= entry.Times.FreshUntil, TimeSpan.FromTicks(now - entry.Times.Created));
    }

    /// <inheritdoc />
    public async ValueTask SetAsync<T>(string key, T value, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        options ??= _options.DefaultEntryOptions;
        await SupersedeAsync(key).ConfigureAwait(false);
        if (UsesL2(options))
        {
            await LearnStoreClockAsync(key, cancellationToken).ConfigureAwait(false);
        }

        var entry = NewEntry(value, null, EntryTimes.From(Now(), options, 0), options, 0);
        if (_l2 is not null || _backplane is not null)
        {
            // An explicit write is itself an invalidation: unconditional, retried, and it throws unless confirmed.
            var written = await WriteDistributedCoreAsync(key, entry, options, lease: null, expectedVersion: null, readStamp: 0, conditional: false, cancellationToken).ConfigureAwait(false);
            entry.Version = written.Version;
        }

        if (options.SkipLocalCacheWrite && !options.SkipLocalCacheRead)
        {
            StoreTombstone(key, entry.Version, Now()); // an older local copy must not shadow the value just written to L2.
        }

        SetLocal(key, entry, options);
    }

    /// <inheritdoc />
    public async ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        await SupersedeAsync(key).ConfigureAwait(false);
        _local.Remove(key);
        var result = await InvalidateDistributedAsync(DistributedInvalidationKind.Remove, key, BackplaneMessageKind.Remove, default, cancellationToken).ConfigureAwait(false);
        StoreTombstone(key, result.Version, Now());
    }

    /// <inheritdoc />
    public async ValueTask ExpireAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        await SupersedeAsync(key).ConfigureAwait(false);
        ExpireLocal(key, 0);
        if (_l2 is not null || _backplane is not null)
        {
            var result = await InvalidateDistributedAsync(DistributedInvalidationKind.Expire, key, BackplaneMessageKind.Expire, ExpiredTimeToLive(key), cancellationToken).ConfigureAwait(false);
            ExpireLocal(key, result.Version);
        }
    }

    /// <inheritdoc />
    public async ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        StampedeKeys.ValidateTag(tag, nameof(tag));
        foreach (var (key, flight) in _flights)
        {
            if (tag == StampedeKeys.AllTag || flight.Tags?.Contains(tag, StringComparer.Ordinal) == true)
            {
                await SupersedeAsync(key, flight).ConfigureAwait(false);
            }
        }

        InvalidateTag(tag, StampNow());
        if (_l2 is not null || _backplane is not null)
        {
            var result = await InvalidateDistributedAsync(DistributedInvalidationKind.Tag, tag, BackplaneMessageKind.RemoveByTag, default, cancellationToken).ConfigureAwait(false);
            if (result.Stamp > 0)
            {
                InvalidateTag(tag, result.Stamp);
            }
        }
    }

    /// <summary>How long a store that rewrites an expired entry keeps it: the local copy's remaining life, at least a minute.</summary>
    private TimeSpan ExpiredTimeToLive(string key)
    {
        var now = Now();
        return _local.Find(key, now) is CacheEntry entry
            ? EntryTimes.Lifetime(Math.Max(entry.Times.KeepUntil, now + TimeSpan.TicksPerMinute), now)
            : TimeSpan.FromMinutes(1);
    }

    /// <summary>
    /// An explicit write, removal, expiry or tag invalidation wins over any run in progress for the key: the run is
    /// closed to new callers and stores nothing from now on. If it is storing right now, wait for that store to end,
    /// so the caller's own write or removal lands after it in both tiers (the last invalidation wins).
    /// </summary>
    private ValueTask SupersedeAsync(string key) =>
        _flights.TryGetValue(key, out var flight) ? SupersedeAsync(key, flight) : default;

    private async ValueTask SupersedeAsync(string key, Flight flight)
    {
        var storing = flight.Supersede();
        _flights.TryRemove(new KeyValuePair<string, Flight>(key, flight));
        await storing.ConfigureAwait(false);
    }

    /// <summary>Stores a run's entry in L1 unless the run was superseded (then an invalidation came after it started).</summary>
    private void StoreLocallyForRun(Flight flight, string key, CacheEntry entry, StampedeCacheEntryOptions options)
    {
        if (!flight.TryBeginStore())
        {
            return;
        }

        try
        {
            SetLocal(key, entry, options, Now(), flight.LocalGeneration);
        }
        finally
        {
            flight.EndStore();
        }
    }

    private bool IsInvalidated(CacheEntry entry) => _invalidations.IsInvalidated(entry);

    private void InvalidateTag(string tag, long at) => _invalidations.Invalidate(tag, at, StampNow(), _oldestRunStart);

    /// <summary>When the oldest run still going started (tag invalidations since then are kept for its check).</summary>
    private long OldestRunStart()
    {
        var oldest = long.MaxValue;
        foreach (var (_, flight) in _flights)
        {
            oldest = Math.Min(oldest, flight.StartedAt);
        }

        return oldest == long.MaxValue ? oldest : oldest + Volatile.Read(ref _stampOffset);
    }
}
