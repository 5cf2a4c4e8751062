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
            entry = (await _distributed.ReadAsync<T>(key, default, options, run: null, learnClock: true, cancellationToken).ConfigureAwait(false)).Entry;
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
            await _distributed.LearnStoreClockAsync(key, long.MaxValue, cancellationToken).ConfigureAwait(false);
        }

        var entry = NewEntry(value, null, EntryTimes.From(Now(), options, 0), options, 0);
        if (_distributed.IsShared)
        {
            // An explicit write is itself an invalidation: unconditional, retried, and it throws unless confirmed.
            var written = await _distributed.WriteAsync(key, entry, options, lease: null, expectedVersion: null, readStamp: 0, conditional: false, cancellationToken).ConfigureAwait(false);
            entry.Version = written.Version;
        }

        if (options.SkipLocalCacheWrite && !options.SkipLocalCacheRead)
        {
            StoreTombstone(key, entry.Version, Now()); // an older local copy must not shadow the value just written to L2.
        }

        SetLocal(key, entry, options);
    }

    /// <summary>
    /// Begins a write condition: call it <em>before</em> reading the source of truth, then store what was read with
    /// <see cref="SetIfUnchangedAsync{T}"/>; the store is refused if the key or one of its tags was invalidated in
    /// between, on any node. Dispose the condition when done.
    /// </summary>
    /// <param name="cancellationToken">Cancels the one read that learns the distributed tier's clock, the first time.</param>
    /// <returns>The condition.</returns>
    /// <exception cref="ObjectDisposedException">The cache was disposed.</exception>
    public async ValueTask<StampedeWriteCondition> BeginConditionalWriteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        // Its start must be on the store's clock, to be compared with the versions and tag records there: learned from a
        // reply less than a second old (a miss has just read the store: no extra round trip then).
        await _distributed.LearnStoreClockAsync(StampedeKeys.AllTag, ConditionClockRefresh, cancellationToken).ConfigureAwait(false);

        var startedAt = Now();
        var condition = new StampedeWriteCondition(this, startedAt, ConditionSince(startedAt), _local.Generation);
        _conditions.TryAdd(condition, 0);
        return condition;
    }

    /// <summary>
    /// Stores <paramref name="value"/> as <see cref="SetAsync{T}"/> does, unless since <paramref name="condition"/> began
    /// the key was set, removed or expired (here, or on any node through the distributed tier), or one of
    /// <see cref="StampedeCacheEntryOptions.Tags"/> (or <c>"*"</c>) was invalidated anywhere: then nothing is stored in
    /// any tier. Unlike <see cref="SetAsync{T}"/> it is not an invalidation: when the distributed tier cannot be reached
    /// the value is kept on this node only, and the call returns true (no retries, no exception).
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="value">The value, read from the source after the condition began.</param>
    /// <param name="condition">From <see cref="BeginConditionalWriteAsync"/> on this cache, not disposed.</param>
    /// <param name="options">Per-entry options; <see cref="StampedeCacheOptions.DefaultEntryOptions"/> when null.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>True when stored; false when an invalidation since the condition began refused it.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is not a valid key, or <paramref name="condition"/> belongs to another cache.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="condition"/> is null.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="condition"/> was disposed.</exception>
    public async ValueTask<bool> SetIfUnchangedAsync<T>(string key, T value, StampedeWriteCondition condition, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        ArgumentNullException.ThrowIfNull(condition);
        if (condition.Cache != this)
        {
            throw new ArgumentException("The condition was begun on another cache.", nameof(condition));
        }

        options ??= _options.DefaultEntryOptions;
        if (!condition.TryBeginStore(key))
        {
            _metrics.RefusedWrite("superseded");
            return false; // set, removed or expired since the condition began
        }

        try
        {
            // Created before the tag check: a tag invalidated after the check is after the entry's origin, and its
            // record outlives the entry, so every read (here or on a node it reaches) finds the entry invalidated.
            var entry = NewEntry(value, null, EntryTimes.From(Now(), options, 0), options, 0, origin: condition.Since);
            if (_invalidations.InvalidatedSince(entry.Tags, condition.Since))
            {
                _metrics.RefusedWrite("superseded");
                return false;
            }

            if (_distributed.IsShared)
            {
                // A key read under the condition: fenced by the barrier taken then, conditional on the version read.
                var held = condition.BarrierOf(key);
                var write = held is { Lease.LeaseLost.IsCancellationRequested: true }
                    ? new WriteOutcome(DistributedOutcome.LeaseLost, 0)
                    : await _distributed.WriteAsync(key, entry, options, held?.Lease, held is { ReadDistributed: true } ? held.ReadVersion : null, held?.ReadStamp ?? 0, conditional: true, cancellationToken, ConditionStoreSince(condition)).ConfigureAwait(false);
                if (write.Outcome is DistributedOutcome.Superseded or DistributedOutcome.LeaseLost)
                {
                    _metrics.RefusedWrite(write.Outcome == DistributedOutcome.LeaseLost ? "lease_lost" : "superseded");
                    if (write.Outcome == DistributedOutcome.LeaseLost)
                    {
                        Log.FencedWriteRefused(_logger, key);
                    }

                    return false;
                }

                if (held is not null && write.Outcome == DistributedOutcome.Done && !write.WasSkipped)
                {
                    // The fenced write released the barrier; a later store of the key under the condition is
                    // conditional on this one.
                    held.Lease = null;
                    held.ReadVersion = write.Version;
                }

                // Written at its new version, or kept here only: then at version 1, below any change this node hears of.
                entry.Version = write.Version != 0 ? write.Version : _distributed.HasStore ? Math.Max(held?.ReadVersion ?? 0, 1) : 0;
            }

            SetLocal(key, entry, options, Now(), condition.LocalGeneration);
            return true;
        }
        finally
        {
            condition.EndStore(key);
        }
    }

    /// <summary>
    /// A condition's start on the clock invalidations are ordered by (see <see cref="StampedeWriteCondition.Since"/>).
    /// A learned offset is never ahead of the store (the store's clock was read before the reply arrived), so the
    /// margin only covers the clocks' drift since it was learned (under a second, see <see cref="ConditionClockRefresh"/>).
    /// </summary>
    private long ConditionSince(long startedAt) =>
        startedAt + _distributed.StampOffset - (_distributed.KnowsStoreClock ? ConditionMargin : 0);

    /// <summary>How old the learned store clock may be when a condition begins.</summary>
    private static readonly long ConditionClockRefresh = TimeSpan.TicksPerSecond;

    /// <summary>Covers the drift of a store clock learned under <see cref="ConditionClockRefresh"/> ago (a thousand times what 100 ppm gives).</summary>
    private static readonly long ConditionMargin = TimeSpan.TicksPerMillisecond;

    /// <summary>
    /// Reads <paramref name="key"/> for a store under <paramref name="condition"/>: here, then in the distributed tier
    /// through its barrier, in one round trip that returns the value or takes the key's lock. A fresh value (found, or
    /// written meanwhile by another node's run this call waited for, up to <see cref="StampedeCacheEntryOptions.LockTimeout"/>)
    /// is returned. On a miss the condition holds the key's barrier until the key is stored under it, changes, or the
    /// condition is disposed: other nodes reading the key this way (or through <c>GetOrCreateAsync</c>) wait for this
    /// node's value instead of computing it too, and <see cref="SetIfUnchangedAsync{T}"/> of the key is fenced (refused
    /// when the barrier's lease was lost, for example while this process was paused past it, so another node's newer
    /// value is never overwritten by an older one) and conditional on the version read here.
    /// This is the double-checked, cross-node single-flight step of <c>GetOrCreateAsync</c>, for an adapter that runs
    /// its own work between the read and the store (the HTTP cache's origin executions). As a double check it expects
    /// a miss: the distributed read is the barrier's script at once (one round trip), not a plain read first.
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="condition">From <see cref="BeginConditionalWriteAsync"/> on this cache, not disposed.</param>
    /// <param name="options">Per-call options (the read flags and <see cref="StampedeCacheEntryOptions.LockTimeout"/>); <see cref="StampedeCacheOptions.DefaultEntryOptions"/> when null.</param>
    /// <param name="cancellationToken">Cancels the read and the wait.</param>
    /// <returns>A fresh value (<see cref="StampedeCacheLookup{T}.HasValue"/>), or a miss.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is not a valid key, or <paramref name="condition"/> belongs to another cache.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="condition"/> is null.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="condition"/> was disposed.</exception>
    public async ValueTask<StampedeCacheLookup<T>> ReadOrAcquireAsync<T>(string key, StampedeWriteCondition condition, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        ArgumentNullException.ThrowIfNull(condition);
        if (condition.Cache != this)
        {
            throw new ArgumentException("The condition was begun on another cache.", nameof(condition));
        }

        condition.ThrowIfDisposed();
        options ??= _options.DefaultEntryOptions;
        var now = Now();
        var local = GetLocal<T>(key, options, now);
        if (local is { Error: null } && now < local.Times.FreshUntil)
        {
            return new StampedeCacheLookup<T>(local.Value, local.IsFailSafe, TimeSpan.FromTicks(now - local.Times.Created));
        }

        if (!UsesL2(options))
        {
            return default;
        }

        // A run of its own (not in the flight table: the adapter collapses its callers itself) that keeps what the
        // read learned (the lease, the version and the store's clock) for the store.
        var run = new Flight<T>(local is { Error: null } && now < local.Times.KeepUntil ? local : null, background: false, cancellationToken)
        {
            Tags = options.Tags,
            StartedAt = condition.StartedAt,
            LocalGeneration = condition.LocalGeneration,
        };
        var (found, lease, _) = await ReadThroughBarrierAsync(key, options, run, expectMiss: true).ConfigureAwait(false);
        if (lease is not null)
        {
            run.HoldLease(lease, _releaseLease);
        }

        now = Now();
        if (found is { Error: null } && now < found.Times.FreshUntil)
        {
            await run.ReleaseLeaseAsync().ConfigureAwait(false);
            return new StampedeCacheLookup<T>(found.Value, found.IsFailSafe, TimeSpan.FromTicks(now - found.Times.Created));
        }

        if (!condition.Hold(key, run))
        {
            await run.ReleaseLeaseAsync().ConfigureAwait(false); // the condition ended while the read was under way: nothing will be stored under it
        }

        return default;
    }

    /// <summary>What the store's write is conditional on: the condition's start on its clock; 0 (kept local) while this node has not learned that clock.</summary>
    private long ConditionStoreSince(StampedeWriteCondition condition) =>
        _distributed.KnowsStoreClock ? condition.Since : 0;

    /// <summary>A disposed condition no longer keeps records or sees changes.</summary>
    internal void EndCondition(StampedeWriteCondition condition) => _conditions.TryRemove(condition, out _);

    /// <inheritdoc />
    public async ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        await SupersedeAsync(key).ConfigureAwait(false);
        _local.Remove(key);
        var result = await _distributed.InvalidateAsync(DistributedInvalidationKind.Remove, key, BackplaneMessageKind.Remove, default, cancellationToken).ConfigureAwait(false);
        StoreTombstone(key, result.Version, Now());
    }

    /// <inheritdoc />
    public async ValueTask ExpireAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        await SupersedeAsync(key).ConfigureAwait(false);
        ExpireLocal(key, 0);
        if (_distributed.IsShared)
        {
            var result = await _distributed.InvalidateAsync(DistributedInvalidationKind.Expire, key, BackplaneMessageKind.Expire, ExpiredTimeToLive(key), cancellationToken).ConfigureAwait(false);
            ExpireLocal(key, result.Version);
        }
    }

    /// <summary>
    /// Registers work of your own that an invalidation by tag must supersede, as it supersedes this cache's runs: for
    /// adapters that compute outside <c>GetOrCreateAsync</c> and store later (the HTTP response cache's origin
    /// executions). <paramref name="onInvalidation"/> is called with the tag (<c>"*"</c>: everything) when
    /// <see cref="RemoveByTagAsync"/> runs on this node, which waits for the task it returns before it applies (return
    /// your stores under way, so the invalidation wins over them), and when another node's invalidation is heard
    /// through the backplane. It must not block; an exception it throws fails that <see cref="RemoveByTagAsync"/>.
    /// </summary>
    /// <param name="onInvalidation">Called with the invalidated tag; returns what the invalidation waits for.</param>
    /// <returns>A registration; dispose it to stop.</returns>
    public IDisposable RegisterTagInvalidation(Func<string, Task> onInvalidation)
    {
        ArgumentNullException.ThrowIfNull(onInvalidation);
        lock (_tagListenersSync)
        {
            _tagListeners = [.. _tagListeners, onInvalidation];
        }

        return new TagListener(this, onInvalidation);
    }

    /// <summary>Supersedes this node's runs carrying <paramref name="tag"/>, the engine's and its adapters'; returns their stores under way.</summary>
    private Task SupersedeTaggedRunsAsync(string tag)
    {
        var engine = _flights.SupersedeTagged(tag, all: tag == StampedeKeys.AllTag);
        var listeners = Volatile.Read(ref _tagListeners);
        if (listeners.Length == 0)
        {
            return engine;
        }

        var all = new Task[listeners.Length + 1];
        all[0] = engine;
        for (var i = 0; i < listeners.Length; i++)
        {
            Task listened;
            try
            {
                listened = listeners[i](tag);
            }
            catch (Exception ex)
            {
                listened = Task.FromException(ex);
            }

            // Logged (and so observed) whoever waits: another node's message does not wait for it.
            if (!listened.IsCompletedSuccessfully)
            {
                _ = listened.ContinueWith(static (failed, state) => LogTagListenerFailed(state, failed), (this, tag), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }

            all[i + 1] = listened;
        }

        return Task.WhenAll(all);
    }

    private static void LogTagListenerFailed(object? state, Task failed)
    {
        var (cache, tag) = ((StampedeCache, string))state!;
        Log.TagListenerFailed(cache._logger, tag, failed.Exception!.GetBaseException());
    }

    private sealed class TagListener(StampedeCache cache, Func<string, Task> supersede) : IDisposable
    {
        public void Dispose()
        {
            lock (cache._tagListenersSync)
            {
                cache._tagListeners = Array.FindAll(cache._tagListeners, l => l != supersede);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        StampedeKeys.ValidateTag(tag, nameof(tag));
        await SupersedeTaggedRunsAsync(tag).ConfigureAwait(false);

        InvalidateTag(tag, _distributed.StampNow());
        if (_distributed.IsShared)
        {
            var result = await _distributed.InvalidateAsync(DistributedInvalidationKind.Tag, tag, BackplaneMessageKind.RemoveByTag, default, cancellationToken).ConfigureAwait(false);
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
    private ValueTask SupersedeAsync(string key)
    {
        if (!_conditions.IsEmpty)
        {
            return SupersedeWithConditionsAsync(key);
        }

        var storing = _flights.Supersede(key);
        return storing.IsCompleted ? default : new ValueTask(storing);
    }

    /// <summary>A change of the key also refuses stores of it under open write conditions, after waiting for one under way.</summary>
    private async ValueTask SupersedeWithConditionsAsync(string key)
    {
        foreach (var (condition, _) in _conditions)
        {
            await condition.Change(key).ConfigureAwait(false);
        }

        await _flights.Supersede(key).ConfigureAwait(false);
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

    private void InvalidateTag(string tag, long at) => _invalidations.Invalidate(tag, at, _distributed.StampNow(), _oldestRunStart);

    /// <summary>When the oldest run still going started (tag invalidations since then are kept for its check).</summary>
    private long OldestRunStart()
    {
        var oldest = _flights.Oldest(static flight => flight.StartedAt);

        foreach (var (condition, _) in _conditions)
        {
            oldest = Math.Min(oldest, condition.StartedAt);
        }

        return oldest == long.MaxValue ? oldest : oldest + _distributed.StampOffset;
    }
}
