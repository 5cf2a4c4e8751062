using StampedeGuard.Internal;
using StampedeGuard.Shared;

namespace StampedeGuard;

/// <summary>
/// A point in time from which <see cref="StampedeCache.SetIfUnchangedAsync{T}"/> stores a value only if nothing
/// invalidated it since: the read-then-store pattern (read the source of truth, then cache what was read) without
/// undoing an invalidation that returned while the read was under way. Get one from
/// <see cref="StampedeCache.BeginConditionalWriteAsync"/> <em>before</em> reading the source, and dispose it when done
/// (an open condition keeps the records it is checked against).
/// </summary>
/// <remarks>
/// A store under the condition is refused when, after the condition began, the key was set, removed or expired
/// (on this node, or on any node through the distributed tier), or one of the entry's tags (or <c>"*"</c>) was
/// invalidated by <see cref="IStampedeCache.RemoveByTagAsync"/> anywhere. An invalidation that meets the store under
/// way waits for it and then applies, so the invalidation that returned always wins, in both tiers.
/// A key read with <see cref="StampedeCache.ReadOrAcquireAsync{T}"/> under the condition is also held: the condition
/// owns the key's distributed barrier (other nodes wait for this one's value), and the store of that key is fenced by
/// it (refused when the barrier's lease was lost, for example while this process was paused). The barrier is released
/// by that store, by a change of the key, or when the condition is disposed.
/// </remarks>
public sealed class StampedeWriteCondition : IDisposable, IAsyncDisposable
{
    private readonly Lock _sync = new();
    private Dictionary<string, KeyGate>? _gates;
    private bool _disposed;

    internal StampedeWriteCondition(StampedeCache cache, long startedAt, long since, long localGeneration)
    {
        Cache = cache;
        StartedAt = startedAt;
        Since = since;
        LocalGeneration = localGeneration;
    }

    /// <summary>Gets the cache the condition belongs to.</summary>
    internal StampedeCache Cache { get; }

    /// <summary>Gets when the condition began, on the engine's clock (ticks).</summary>
    internal long StartedAt { get; }

    /// <summary>
    /// Gets when the condition began on the clock invalidations are ordered by (the store's, where it has one, less the
    /// error of the learned offset): an entry stored under it has this origin, so tag invalidations after it win.
    /// </summary>
    internal long Since { get; }

    /// <summary>Gets the local tier's generation when the condition began (a drop since refuses local copies).</summary>
    internal long LocalGeneration { get; }

    /// <summary>
    /// Gets whether work begun under the condition may still be shared with callers arriving now. False once this node
    /// may have missed an invalidation since the condition began (its backplane reset the node: a paused process, a
    /// broken or silent subscription) and the work is older than the backplane's trust period: an invalidation this node
    /// never heard may have superseded it. An adapter that lets callers join work in progress (the HTTP cache's origin
    /// executions) asks before each join, as <c>GetOrCreateAsync</c> does for its own runs; a store under the condition
    /// is fenced separately.
    /// </summary>
    public bool IsShareable => Cache.MayShare(LocalGeneration, StartedAt);

    /// <summary>Ends the condition and releases the barriers it holds (in the background): later stores under it throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => _ = DisposeAsync().AsTask();

    /// <summary>Ends the condition and releases the barriers it holds: later stores under it throw <see cref="ObjectDisposedException"/>.</summary>
    /// <returns>A task that completes when the barriers were released (or their release failed, logged).</returns>
    public async ValueTask DisposeAsync()
    {
        List<KeyGate>? held = null;
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var (_, gate) in _gates ?? [])
            {
                if (gate.Barrier is not null)
                {
                    (held ??= []).Add(gate);
                }
            }
        }

        Cache.EndCondition(this);
        foreach (var gate in held ?? [])
        {
            await gate.ReleaseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> when the condition was disposed.</summary>
    internal void ThrowIfDisposed()
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
        }
    }

    /// <summary>
    /// Holds <paramref name="run"/>'s barrier for <paramref name="key"/> (a read under the condition found nothing
    /// fresh); a barrier held before for the key is released. False when the condition was disposed meanwhile (the
    /// caller releases the barrier: nothing can be stored under the condition any more).
    /// </summary>
    internal bool Hold(string key, Flight run)
    {
        KeyGate gate;
        lock (_sync)
        {
            if (_disposed)
            {
                return false;
            }

            gate = Gate(key);
        }

        gate.Hold(run);
        return true;
    }

    /// <summary>The run whose barrier the condition holds for <paramref name="key"/>, if any: its store is fenced by that run's lease and conditional on its read.</summary>
    internal Flight? BarrierOf(string key)
    {
        lock (_sync)
        {
            return _gates is not null && _gates.TryGetValue(key, out var gate) ? gate.Barrier : null;
        }
    }

    /// <summary>Starts a store of <paramref name="key"/>; false when the key changed since the condition began.</summary>
    internal bool TryBeginStore(string key)
    {
        StoreGate gate;
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            gate = Gate(key);
        }

        return gate.TryBeginStore();
    }

    /// <summary>Ends a store begun by <see cref="TryBeginStore"/>, releasing an invalidation that waits for it.</summary>
    internal void EndStore(string key) => GateOf(key).EndStore();

    /// <summary>
    /// Records that <paramref name="key"/> changed (later stores of it are refused); returns the stores of it under way,
    /// if any, for the invalidation to wait for before it applies.
    /// </summary>
    internal Task Change(string key) => GateOf(key).Change();

    private KeyGate GateOf(string key)
    {
        lock (_sync)
        {
            return Gate(key);
        }
    }

    /// <summary>The key's store gate (the one the engine's runs use too), made when first needed; under the lock.</summary>
    private KeyGate Gate(string key)
    {
        _gates ??= new Dictionary<string, KeyGate>(StringComparer.Ordinal);
        if (!_gates.TryGetValue(key, out var gate))
        {
            gate = new KeyGate();
            _gates.Add(key, gate);
        }

        return gate;
    }

    /// <summary>
    /// One key's store gate and the barrier held for it, if any. Once the key changed and its stores under way ended,
    /// the barrier is released at once: nothing will be stored under it any more, and the next run (here or on another
    /// node) need not wait for this one.
    /// </summary>
    private sealed class KeyGate : StoreGate
    {
        private Flight? _barrier;

        /// <summary>Gets the run whose barrier is held.</summary>
        public Flight? Barrier
        {
            get
            {
                lock (Sync)
                {
                    return _barrier;
                }
            }
        }

        public void Hold(Flight run)
        {
            Flight? previous;
            lock (Sync)
            {
                previous = _barrier;
                _barrier = run;
            }

            if (previous is not null && !ReferenceEquals(previous, run))
            {
                _ = previous.ReleaseLeaseAsync().AsTask();
            }

            if (IsChanged)
            {
                _ = ReleaseAsync().AsTask(); // the key changed before the barrier was held: nothing will be stored under it
            }
        }

        public ValueTask ReleaseAsync()
        {
            Flight? held;
            lock (Sync)
            {
                held = _barrier;
                _barrier = null;
            }

            return held?.ReleaseLeaseAsync() ?? default;
        }

        protected override void OnSettled() => _ = ReleaseAsync().AsTask();
    }
}
