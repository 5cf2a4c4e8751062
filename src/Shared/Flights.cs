using System.Collections.Concurrent;

namespace StampedeGuard.Shared;

/// <summary>
/// The store gate: the one place where "an invalidation that returned wins" is enforced. A store begins only if
/// nothing changed what it stores since its reader began; a change that meets stores under way is recorded at once
/// (no later store begins) and waits for those stores to end, so the change then applies after them, in every tier.
/// Used by a flight (one run's stores) and by a write condition (one gate per key it stores). Compiled into each
/// library that builds on it (linked source), so the engine and the HTTP cache share one implementation.
/// </summary>
internal class StoreGate
{
    private bool _changed;
    private int _storing;
    private TaskCompletionSource? _storesDone;

    /// <summary>Guards the gate and whatever a derived type keeps beside it (the gate itself: no lock object of its own).</summary>
    protected object Sync => this;

    /// <summary>Gets whether a change came since the gate opened: nothing may be stored through it any more.</summary>
    public bool IsChanged
    {
        get
        {
            lock (Sync)
            {
                return _changed;
            }
        }
    }

    /// <summary>Starts a store; false when a change came first (store nothing). Every true is paired with <see cref="EndStore"/>.</summary>
    public bool TryBeginStore()
    {
        lock (Sync)
        {
            if (_changed)
            {
                return false;
            }

            _storing++;
            return true;
        }
    }

    /// <summary>Ends a store begun by <see cref="TryBeginStore"/>; the last one releases a change that waits for the stores.</summary>
    public void EndStore()
    {
        TaskCompletionSource? waiting = null;
        lock (Sync)
        {
            if (--_storing == 0)
            {
                waiting = _storesDone;
                _storesDone = null;
            }
        }

        if (waiting is not null)
        {
            OnSettled(); // a change waited for this store: it applies now
            waiting.TrySetResult();
        }
    }

    /// <summary>
    /// Records a change: no store begins from now on. Returns the stores under way, for the change to wait for before
    /// it applies itself (only a change that meets a store pays for something to wait on).
    /// </summary>
    public Task Change()
    {
        lock (Sync)
        {
            var first = !_changed;
            _changed = true;
            OnChanged();
            if (_storing != 0)
            {
                _storesDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _storesDone.Task;
            }

            if (!first)
            {
                return Task.CompletedTask;
            }
        }

        OnSettled();
        return Task.CompletedTask;
    }

    /// <summary>Called under the lock when a change is recorded (a flight closes itself to new callers).</summary>
    protected virtual void OnChanged()
    {
    }

    /// <summary>
    /// Called outside the lock once a change was recorded and no store is under way any more (at once, or when the
    /// last store ends): nothing will be stored through the gate again, so what was held for a store (a barrier's
    /// lease) may go.
    /// </summary>
    protected virtual void OnSettled()
    {
    }
}

/// <summary>
/// One run and the callers attached to it (single-flight), for the engine's <c>GetOrCreateAsync</c> and for the HTTP
/// cache's origin executions alike: membership (the last caller to leave a run nobody else wants cancels it; a run
/// someone was promised keeps running for the cache), closing (nobody joins any more, with the reason), the run's
/// token, and the store gate it inherits (a superseded run answers who joined before but stores nothing).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A derived type that owns the run's end disposes the token source (DisposeToken); the engine's runs have no timer on it and are never disposed.")]
internal abstract class FlightCore : StoreGate
{
    private readonly CancellationTokenSource? _cts;
    private int _waiters;
    private bool _keepRunning;
    private bool _closed;

    /// <summary>Creates a flight.</summary>
    /// <param name="cancelledOnlyOnDispose">
    /// A token that alone can cancel this run (nothing else may): the run uses it and needs no token source of its own.
    /// Default: the flight's own source, cancelled when the last caller leaves or on <see cref="CancelRun"/>.
    /// </param>
    protected FlightCore(CancellationToken cancelledOnlyOnDispose = default)
    {
        if (cancelledOnlyOnDispose.CanBeCanceled)
        {
            Token = cancelledOnlyOnDispose;
        }
        else
        {
            _cts = new CancellationTokenSource();
            Token = _cts.Token;
        }
    }

    /// <summary>Gets the token the run works on: the flight's, never one caller's.</summary>
    public CancellationToken Token { get; }

    /// <summary>Gets whether the run was started by nobody waiting (a background refresh): leaving never cancels it.</summary>
    public abstract bool IsBackground { get; }

    /// <summary>Gets whether the run has given its answer (then nobody counts who waits, and leaving cancels nothing).</summary>
    public abstract bool IsAnswered { get; }

    /// <summary>Gets whether a newer run or an invalidation replaced this one (see <see cref="StoreGate.Change"/>).</summary>
    public bool IsSuperseded => IsChanged;

    /// <summary>Gets why the flight stopped accepting callers when it was closed for its answer (it cannot be shared), else null.</summary>
    public string? ClosedReason { get; private set; }

    /// <summary>
    /// Gets whether a newer run may take the key over: the flight is closed without a reason of its own (every caller
    /// left, a waiter gave up on it, or it was superseded). A flight closed with a reason turns callers away instead.
    /// </summary>
    public bool IsReplaceable
    {
        get
        {
            lock (Sync)
            {
                return _closed && ClosedReason is null;
            }
        }
    }

    /// <summary>Gets whether nobody may join any more (call under <see cref="StoreGate.Sync"/>).</summary>
    protected bool IsClosed => _closed;

    /// <summary>Attaches a caller; false when the flight is closed.</summary>
    public bool TryJoin()
    {
        lock (Sync)
        {
            if (_closed || !CanAdmit())
            {
                return false;
            }

            _waiters++;
            return true;
        }
    }

    /// <summary>A caller stops waiting. The last one to leave because it was cancelled cancels a run nobody else wants.</summary>
    /// <param name="cancelled">Whether it leaves because it was cancelled (a caller that got its answer or gave up on time passes false).</param>
    public void Leave(bool cancelled)
    {
        var cancelRun = false;
        lock (Sync)
        {
            _waiters--;
            if (_waiters <= 0 && cancelled && !IsBackground && !_keepRunning && !IsAnswered)
            {
                _closed = true;
                cancelRun = true;
            }
        }

        if (cancelRun)
        {
            CancelRun();
        }
    }

    /// <summary>Stops new callers from joining; the run itself goes on. With a reason, later callers are turned away with it rather than starting a run of their own.</summary>
    public void Close(string? reason = null)
    {
        lock (Sync)
        {
            _closed = true;
            if (reason is not null)
            {
                ClosedReason ??= reason;
            }
        }
    }

    /// <summary>A caller was promised the run finishes and updates the cache (a soft timeout): leaving no longer cancels it.</summary>
    public void KeepRunning()
    {
        lock (Sync)
        {
            _keepRunning = true;
        }
    }

    /// <summary>Supersedes the run: closed to new callers, no store from now on; returns its stores under way, to wait for.</summary>
    public Task Supersede() => Change();

    /// <summary>Gets whether the run carries <paramref name="tag"/> (a tag invalidation supersedes it).</summary>
    public abstract bool HasTag(string tag);

    /// <summary>Cancels the run's token (a flight on a token it does not own: nothing).</summary>
    public void CancelRun()
    {
        try
        {
            _cts?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run ended and its owner disposed the source: nothing left to cancel.
        }
        catch (AggregateException)
        {
            // A callback registered on the token threw: the run is cancelled anyway.
        }
    }

    /// <summary>Whether one more caller can be attached (under the lock; a flight whose answer cannot be replayed says no).</summary>
    protected virtual bool CanAdmit() => true;

    /// <summary>Disposes the flight's own token source (only the owner of the run's end calls it).</summary>
    protected void DisposeToken() => _cts?.Dispose();

    /// <inheritdoc />
    protected override void OnChanged() => _closed = true;
}

/// <summary>How a caller met a key's flight in <see cref="FlightTable{TFlight}.JoinOrLead{TArg}"/>.</summary>
internal enum FlightRole
{
    /// <summary>The caller's flight was added: it runs it.</summary>
    Leader,

    /// <summary>The caller joined the flight under way.</summary>
    Joined,

    /// <summary>The flight under way is closed for its answer (<see cref="FlightCore.ClosedReason"/>): the caller is on its own.</summary>
    TurnedAway,
}

/// <summary>The runs under way by key: join, lead, replace, remove, supersede. One per cache (and one per HTTP cache).</summary>
/// <typeparam name="TFlight">The flight type.</typeparam>
internal sealed class FlightTable<TFlight>
    where TFlight : FlightCore
{
    private readonly ConcurrentDictionary<string, TFlight> _flights = new(StringComparer.Ordinal);

    /// <summary>Gets the number of runs under way.</summary>
    public int Count => _flights.Count;

    /// <summary>Gets whether no run is under way.</summary>
    public bool IsEmpty => _flights.IsEmpty;

    /// <summary>Gets the run under way for <paramref name="key"/>.</summary>
    public bool TryGet(string key, out TFlight flight) => _flights.TryGetValue(key, out flight!);

    /// <summary>
    /// Joins the key's run, or adds one made by <paramref name="create"/> (made joined by its leader) and leads it. A
    /// closed run is replaced when it is replaceable (the old one is superseded: it stores nothing); otherwise the
    /// caller is turned away. A run <paramref name="joinable"/> says no to (it began before something this caller must
    /// not miss) is closed first, so it is replaced.
    /// </summary>
    public FlightRole JoinOrLead<TArg>(string key, Func<TArg, TFlight> create, TArg arg, out TFlight flight, Func<TFlight, TArg, bool>? joinable = null)
    {
        while (true)
        {
            if (_flights.TryGetValue(key, out var existing))
            {
                if (joinable is not null && !joinable(existing, arg))
                {
                    existing.Close(); // its callers keep it; nobody new joins, and the next run replaces it
                }

                if (existing.TryJoin())
                {
                    flight = existing;
                    return FlightRole.Joined;
                }

                if (!existing.IsReplaceable)
                {
                    flight = existing;
                    return FlightRole.TurnedAway;
                }

                var replacement = create(arg);
                if (TryReplace(key, replacement, existing))
                {
                    flight = replacement;
                    return FlightRole.Leader;
                }
            }
            else
            {
                var created = create(arg);
                if (_flights.TryAdd(key, created))
                {
                    flight = created;
                    return FlightRole.Leader;
                }
            }
        }
    }

    /// <summary>Adds <paramref name="flight"/> for <paramref name="key"/> unless a run is under way (one run per key), or it was superseded already.</summary>
    public bool TryLead(string key, TFlight flight)
    {
        if (!_flights.TryAdd(key, flight))
        {
            return false;
        }

        if (flight.IsSuperseded)
        {
            Remove(key, flight); // superseded while it was being added: nobody may find it
            return false;
        }

        return true;
    }

    /// <summary>Puts <paramref name="replacement"/> in <paramref name="current"/>'s place, which is superseded; false if it was gone already.</summary>
    public bool TryReplace(string key, TFlight replacement, TFlight current)
    {
        if (!_flights.TryUpdate(key, replacement, current))
        {
            return false;
        }

        _ = current.Supersede();
        return true;
    }

    /// <summary>Removes <paramref name="flight"/> for <paramref name="key"/> (not a newer run that replaced it).</summary>
    public void Remove(string key, TFlight flight) => _flights.TryRemove(new KeyValuePair<string, TFlight>(key, flight));

    /// <summary>Supersedes the key's run, if any, and removes it; returns its store under way, to wait for.</summary>
    public Task Supersede(string key) =>
        _flights.TryGetValue(key, out var flight) ? Supersede(key, flight) : Task.CompletedTask;

    /// <summary>Supersedes every run carrying <paramref name="tag"/> (every run at all when <paramref name="all"/>); returns their stores under way.</summary>
    public Task SupersedeTagged(string tag, bool all)
    {
        List<Task>? storing = null;
        foreach (var (key, flight) in _flights)
        {
            if ((all || flight.HasTag(tag)) && Supersede(key, flight) is { IsCompleted: false } store)
            {
                (storing ??= []).Add(store);
            }
        }

        return storing is null ? Task.CompletedTask : Task.WhenAll(storing);
    }

    /// <summary>Supersedes and removes every run (disposal), calling <paramref name="then"/> on each.</summary>
    public void SupersedeAll(Action<TFlight> then)
    {
        foreach (var (key, flight) in _flights)
        {
            _ = Supersede(key, flight);
            then(flight);
        }

        _flights.Clear();
    }

    /// <summary>The earliest of <paramref name="startedAt"/> over the runs under way, or <see cref="long.MaxValue"/>.</summary>
    public long Oldest(Func<TFlight, long> startedAt)
    {
        var oldest = long.MaxValue;
        foreach (var (_, flight) in _flights)
        {
            oldest = Math.Min(oldest, startedAt(flight));
        }

        return oldest;
    }

    private Task Supersede(string key, TFlight flight)
    {
        var storing = flight.Supersede();
        Remove(key, flight);
        return storing;
    }
}
