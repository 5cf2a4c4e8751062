using System.Runtime.CompilerServices;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StampedeGuard.Distributed;
using StampedeGuard.Internal;
using StampedeGuard.Shared;
using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard;

/// <summary>
/// The engine. This file is the whole pipeline of a <see cref="GetOrCreateAsync{TState, T}"/> call:
/// <list type="number">
/// <item>Fresh L1 hit: return at once (no allocation); past the entry's refresh point, start one early refresh.</item>
/// <item>Stale L1 hit (inside StaleWhileRevalidate): return the stale value, start one background refresh.</item>
/// <item>Miss: join the key's flight or lead it. The leader re-checks L1, then L2 (taking the distributed lock in
/// the same round trip), waits for another node's run if it holds the lock, runs the factory, writes L2 (fenced) then
/// L1, and answers every waiter with the one result or the one exception.</item>
/// <item>Waits are bounded: FactorySoftTimeout (serve stale), FactoryHardTimeout (cancel, fail), LockTimeout (take over).</item>
/// <item>Failures: fail-safe serves the last good value within StaleIfError and throttles retries.</item>
/// </list>
/// </summary>
public sealed partial class StampedeCache : IStampedeCache, IDisposable
{
    private readonly StampedeCacheOptions _options;
    private readonly TimeProvider _time;
    private readonly long _anchorTicks;
    private readonly long _anchorTimestamp;
    private readonly double _ticksPerTimestamp;
    private readonly bool _systemClock;
    private readonly LocalTier _local;
    private readonly DistributedTier _distributed;
    private readonly Func<StampedeLease, ValueTask> _releaseLease; // a superseded run's barrier goes early (Flight.HoldLease)
    private readonly IDisposable? _subscription;
    private readonly ILogger _logger;
    private readonly StampedeMetrics _metrics;
    private readonly FlightTable<Flight> _flights = new();
    private readonly ConcurrentDictionary<StampedeWriteCondition, byte> _conditions = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _tagListenersSync = new();
    private Func<string, Task>[] _tagListeners = [];
    private readonly Invalidations _invalidations = new();
    private readonly Func<long> _oldestRunStart;
    private readonly CancellationTokenSource _disposing = new();
    private volatile bool _disposed;

    /// <summary>Creates a cache. Everything but <paramref name="options"/> is optional.</summary>
    /// <param name="options">Cache-wide options; defaults when null.</param>
    /// <param name="memoryCache">
    /// The local tier (L1) when the application shares its own; when null the engine keeps its own, bounded by
    /// <see cref="StampedeCacheOptions.LocalCacheSizeLimit"/> (faster: one slot per key, no MemoryCache entry per hit).
    /// </param>
    /// <param name="distributedStore">The distributed tier (L2) and barrier, if any.</param>
    /// <param name="backplane">Keeps other nodes' L1 coherent, if any.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="meterFactory">Creates the <c>StampedeGuard</c> meter; a static meter when null.</param>
    public StampedeCache(
        StampedeCacheOptions? options = null,
        IMemoryCache? memoryCache = null,
        IStampedeDistributedStore? distributedStore = null,
        IStampedeBackplane? backplane = null,
        ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null)
    {
        _options = options ?? new StampedeCacheOptions();
        _time = WallClockTimestamps.For(_options.TimeProvider); // a clock that overrides only GetUtcNow: its wall time
        _anchorTicks = _time.GetUtcNow().UtcTicks;
        _anchorTimestamp = _time.GetTimestamp();
        _ticksPerTimestamp = (double)TimeSpan.TicksPerSecond / _time.TimestampFrequency;
        _systemClock = ReferenceEquals(_time, TimeProvider.System);
        _local = new LocalTier(memoryCache, Now, _options.LocalCacheSizeLimit, _options.LocalSweepTimeProvider ?? TimeProvider.System, _systemClock);
        _logger = (ILogger?)loggerFactory?.CreateLogger<StampedeCache>() ?? NullLogger.Instance;
        _metrics = new StampedeMetrics(meterFactory, _options.CacheName);
        _oldestRunStart = OldestRunStart;
        _distributed = new DistributedTier(_options, distributedStore, backplane, Now, _time, _logger, _metrics, _invalidations, _oldestRunStart);
        _releaseLease = _distributed.ReleaseQuietlyAsync;
        _subscription = _distributed.Subscribe(OnBackplaneMessage);
    }

    /// <summary>Gets the options this cache was created with.</summary>
    public StampedeCacheOptions Options => _options;

    internal Meter Meter => _metrics.Meter;

    internal int FlightCount => _flights.Count;

    internal LocalTier Local => _local;

    internal int TagInvalidationCount => _invalidations.Count;

    /// <inheritdoc />
    public ValueTask<T> GetOrCreateAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return GetOrCreateAsync<Func<CancellationToken, ValueTask<T>>, T>(key, factory, static (f, _, ct) => f(ct), options, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        // Only null is checked before the lookup: a key the rules refuse is never stored, so it cannot hit; the full
        // check (length, characters: a scan of the key) runs on the miss path, keeping the hit to one lookup.
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(factory);
        options ??= _options.DefaultEntryOptions;

        // 1. Fresh L1 hit: one lookup and one clock read against the entry's hit deadline (its refresh point, or the
        //    end of freshness once the refresh is claimed, capped by LocalDuration), no allocation, no shared write.
        if (!options.SkipLocalCacheRead && TryGetFresh(key, out T value))
        {
            return new ValueTask<T>(value);
        }

        return GetOrCreateSlow(key, state, factory, options, cancellationToken);
    }

    /// <summary>
    /// The fresh L1 hit, counted: also what the HybridCache adapter probes first, so a hit never maps its options or
    /// copies its tags (those matter only when the value is computed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryGetFresh<T>(string key, out T value)
    {
        if (_local.TryGet(key, out var found) && found is CacheEntry<T> entry && HitClock() is var clock && clock < entry.HitDeadline && clock < _trustedUntil
            && entry.Error is null && !IsInvalidated(entry))
        {
            _metrics.Hit();
            value = entry.Value;
            return true;
        }

        value = default!;
        return false;
    }

    /// <summary>
    /// The miss side of a call, without an async state machine of its own: every check here is synchronous, and a
    /// caller with nothing of its own to bound (no cancellable token, no soft timeout) awaits the run's one shared
    /// answer directly. Failures come back in the returned task, never thrown from the call.
    /// </summary>
    private ValueTask<T> GetOrCreateSlow<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        try
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return Cancelled<T>(cancellationToken);
            }

            ObjectDisposedException.ThrowIf(_disposed, this);
            if (ComputingKey.Contains(this, key))
            {
                // The factory of this key asks for the key itself: waiting for its own run would never end.
                throw new InvalidOperationException($"The factory for key '{key}' called GetOrCreateAsync for the same key (re-entrant call); it would wait for itself forever.");
            }

            var now = Now();
            var entry = GetLocal<T>(key, options, now);
            CacheEntry<T>? stale = null;
            if (entry is not null)
            {
                if (now < entry.Times.FreshUntil)
                {
                    _metrics.Hit();
                    entry.Error?.Throw();
                    if (now >= entry.RefreshCheckAt)
                    {
                        MaybeRefreshEarly(key, state, factory, options, entry, now);
                    }

                    return new ValueTask<T>(entry.Value);
                }

                if (entry.Error is null && now < entry.Times.StaleUntil)
                {
                    // 2. Stale hit: serve it, one background refresh.
                    _metrics.Stale();
                    if (entry.TryClaimStaleRefresh())
                    {
                        StartBackgroundRefresh(new Call<TState, T>(key, state, factory, options), entry, early: false);
                    }

                    return new ValueTask<T>(entry.Value);
                }

                if (entry.Error is null && now < entry.Times.KeepUntil)
                {
                    stale = entry;
                }
            }

            // 3. Miss: lead or join the key's flight.
            return JoinFlight(key, state, factory, options, stale, now, cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<T>(ex);
        }
    }

    /// <summary>Leads or joins the key's flight. A waiter allocates nothing here unless it is the one that arms the LockTimeout timer.</summary>
    private ValueTask<T> JoinFlight<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, CacheEntry<T>? stale, long now, CancellationToken cancellationToken)
    {
        var started = _metrics.WaitDuration.Enabled ? _time.GetTimestamp() : 0; // timed only while someone listens
        var role = _flights.JoinOrLead(
            key,
            static run => run.Cache.NewFlight(run.Stale, run.Options, run.Now, run.Token),
            (Cache: this, Stale: stale, Options: options, Now: now, Token: cancellationToken),
            out var joined,
            static (running, run) => run.Cache.MayJoin(running, run.Now));
        if (joined is not Flight<T> flight || role == FlightRole.TurnedAway)
        {
            // The same key is being computed as another type: do not share, do not block. (The engine never closes a
            // run with a reason, so it never turns a caller away; were it to, the caller would be on its own too.)
            if (role == FlightRole.Joined)
            {
                joined.Leave(cancelled: false);
            }

            _metrics.Miss();
            return factory(state, NewContext<T>(key, options, stale, null), cancellationToken);
        }

        var leader = role == FlightRole.Leader;
        if (leader)
        {
            _metrics.Miss();
            _ = RunFlightAsync(new Call<TState, T>(key, state, factory, options), flight);
            if (flight.IsAnswered)
            {
                // The run completed inline: the leader takes its own result at once, no task, no hop through the answer
                // (and need not leave: once a run has answered, nobody counts who waits for it).
                RecordWait(started);
                return flight.AnsweredValue();
            }
        }
        else
        {
            _metrics.Collapsed();
            if (state is IBatchKey batchKey)
            {
                batchKey.Waiting(); // a batch's key joined someone else's run: its batch need not wait for it
            }

            // 4. Bounded wait: the first waiter behind someone else's run arms the run's one LockTimeout timer. When
            //    it fires, one replacement run starts and answers every waiter of the hung run (no per-waiter timer,
            //    no convoy): a wait is bounded by LockTimeout plus the replacement's own bounds.
            var lockTimeout = TimerBound(options.LockTimeout);
            if (lockTimeout != Timeout.InfiniteTimeSpan && !flight.IsTakeoverArmed)
            {
                ArmTakeover(new Call<TState, T>(key, state, factory, options), flight, lockTimeout);
            }
        }

        if (!cancellationToken.CanBeCanceled && TimerBound(options.FactorySoftTimeout) == Timeout.InfiniteTimeSpan)
        {
            // Nothing of the caller's own to bound: it awaits the run's one shared answer (no task, timer or state
            // machine per waiter; a timed wait is one slot in the flight, recorded at the answer). Such a caller never
            // gives up early, so it never leaves the flight either: the factory is cancelled only when every waiter is
            // gone, and this one never goes. The leader does not even need the shared task: it waits on the flight
            // itself and resumes where the run answers.
            if (started != 0 && !flight.TimeWait(started, _metrics.WaitDuration, _time))
            {
                RecordWait(started);
            }

            return leader ? flight.LeaderAnswer : new ValueTask<T>(flight.Answer);
        }

        return WaitAsync(flight, stale, options, started, cancellationToken);
    }

    /// <summary>Arms the flight's one LockTimeout timer (a method of its own: the closure exists only for the waiter that arms it).</summary>
    private void ArmTakeover<TState, T>(Call<TState, T> call, Flight<T> flight, TimeSpan lockTimeout) =>
        flight.ArmTakeover(_time, lockTimeout, () => TakeOver(call, flight));

    /// <summary>A caller's own bounded wait on a run: its cancellation token, the soft timeout, the wait's duration.</summary>
    private async ValueTask<T> WaitAsync<T>(Flight<T> flight, CacheEntry<T>? stale, StampedeCacheEntryOptions options, long started, CancellationToken cancellationToken)
    {
        var cancelled = false;
        try
        {
            // FactorySoftTimeout when a stale value exists (it may arrive from L2 during the wait).
            var soft = TimerBound(options.FactorySoftTimeout);
            if (soft != Timeout.InfiniteTimeSpan)
            {
                try
                {
                    var early = await flight.Answer.WaitAsync(soft, _time, cancellationToken).ConfigureAwait(false);
                    RecordWait(started);
                    return early;
                }
                catch (TimeoutException) when (!flight.IsAnswered && (flight.Stale ?? stale) is { } fallback)
                {
                    // The run goes on in the background and updates the cache: nobody may cancel it now.
                    flight.KeepRunning();
                    RecordWait(started);
                    return fallback.Value;
                }
                catch (TimeoutException)
                {
                    // No stale value (or the answer arrived at that instant): wait for the run.
                }
            }

            var value = await flight.Answer.WaitAsync(cancellationToken).ConfigureAwait(false);
            RecordWait(started);
            return value;
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            cancelled = true;
            if (ex.GetType() == typeof(OperationCanceledException) && ex.CancellationToken == cancellationToken)
            {
                throw;
            }

            // Task.WaitAsync throws TaskCanceledException; HybridCache's contract (and ours) is exactly this type.
            throw new OperationCanceledException(ex.Message, ex, cancellationToken);
        }
        catch (Exception)
        {
            RecordWait(started); // the run's failure is its answer: waited for, as on the shared answer
            throw;
        }
        finally
        {
            flight.Leave(cancelled);
        }
    }

    /// <summary>
    /// A call whose token was cancelled before it began: a cancelled task whose await throws exactly
    /// <see cref="OperationCanceledException"/> carrying <paramref name="cancellationToken"/> (as Microsoft's HybridCache
    /// throws; <see cref="ValueTask.FromCanceled{TResult}(CancellationToken)"/> would throw its subclass
    /// <see cref="TaskCanceledException"/>). An async method that throws it is exactly that: a cancelled task keeping the exception.
    /// </summary>
#pragma warning disable CS1998 // no await: the exception is the whole point
    private static async ValueTask<T> Cancelled<T>(CancellationToken cancellationToken) =>
        throw new OperationCanceledException(cancellationToken);
#pragma warning restore CS1998

    /// <summary>
    /// Whether a caller arriving at <paramref name="now"/> may share <paramref name="running"/>. A run begun before the
    /// node's last reset (messages may have been lost: a paused process, a silent subscription) may have been
    /// superseded by an invalidation this node never heard; a caller may share it only while it is younger than the
    /// backplane's trust period, since every invalidation that returned before the start of that period returned before
    /// the run began (the cross-node bound holds for its value). Two field reads; over no backplane, always true.
    /// </summary>
    private bool MayJoin(Flight running, long now) => MayShare(running.LocalGeneration, running.StartedAt, now);

    /// <summary>Whether work begun at <paramref name="startedAt"/> in local generation <paramref name="generation"/> may be shared now (see <see cref="MayJoin"/>).</summary>
    internal bool MayShare(long generation, long startedAt, long now) =>
        generation == _local.Generation || startedAt >= now - Volatile.Read(ref _aliveFor);

    /// <summary>Whether work begun at <paramref name="startedAt"/> in local generation <paramref name="generation"/> may be shared now.</summary>
    internal bool MayShare(long generation, long startedAt) => generation == _local.Generation || MayShare(generation, startedAt, Now());

    private Flight<T> NewFlight<T>(CacheEntry<T>? stale, StampedeCacheEntryOptions options, long now, CancellationToken leaderToken)
    {
        var flight = new Flight<T>(stale, background: false, CancelledOnlyOnDispose(options, leaderToken)) { Tags = options.Tags, StartedAt = now, LocalGeneration = _local.Generation };
        flight.TryJoin();
        return flight;
    }

    /// <summary>
    /// The cache's disposal token when nothing else can cancel a run: its leader's token cannot be cancelled (the
    /// leader never leaves, so waiters who cancel are never the last) and no timeout bounds it. Else default: the
    /// flight gets a token source of its own.
    /// </summary>
    private CancellationToken CancelledOnlyOnDispose(StampedeCacheEntryOptions options, CancellationToken leaderToken) =>
        !leaderToken.CanBeCanceled && TimerBound(options.FactoryHardTimeout) == Timeout.InfiniteTimeSpan && TimerBound(options.FactorySoftTimeout) == Timeout.InfiniteTimeSpan
            ? _disposing.Token
            : default;

    /// <summary>
    /// LockTimeout passed behind a run that has not answered: one replacement run takes the key over, and its answer
    /// (or the hung run's, whichever comes first) goes to every waiter of the hung run. The hung run stores nothing.
    /// </summary>
    private void TakeOver<TState, T>(Call<TState, T> call, Flight<T> hung)
    {
        var (key, _, _, options) = call;
        if (hung.IsAnswered || _disposed)
        {
            return;
        }

        var replacement = new Flight<T>(hung.Stale, background: false) { Tags = options.Tags, StartedAt = Now(), LocalGeneration = _local.Generation };
        if (!_flights.TryReplace(key, replacement, hung))
        {
            return; // superseded or ended meanwhile: its waiters keep their run.
        }

        _metrics.LockTimeouts.Add(1);
        Log.LockTimeout(_logger, key, options.LockTimeout.TotalSeconds);
        hung.AnswerFrom(replacement);
        _ = Task.Run(() => RunFlightAsync(call, replacement));
    }

    private void MaybeRefreshEarly<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, CacheEntry<T> entry, long now)
    {
        if (!entry.IsRefreshClaimed && entry.ShouldRefreshEarly(now) && entry.TryClaimRefresh())
        {
            // The refresh is claimed: hits are plain again until the entry's freshness ends (set before the refresh
            // starts, so the refresh's own entry always replaces this one).
            SetHitDeadline(entry, entry.ExpiresAt);

            StartBackgroundRefresh(new Call<TState, T>(key, state, factory, options), entry, early: true);
        }
    }

    private void StartBackgroundRefresh<TState, T>(Call<TState, T> call, CacheEntry<T> current, bool early)
    {
        var (key, _, _, options) = call;
        var flight = new Flight<T>(current, background: true, CancelledOnlyOnDispose(options, default)) { Claimed = early ? null : current, Tags = options.Tags, StartedAt = Now(), LocalGeneration = _local.Generation };
        if (!_flights.TryLead(key, flight))
        {
            return; // a run for this key is already under way; it will replace the entry.
        }

        (early ? _metrics.EarlyRefreshes : _metrics.BackgroundRefreshes).Add(1);
        _ = Task.Run(() => RunFlightAsync(call, flight));
    }

    /// <summary>The leader's work: double-check, distributed barrier, factory, store, answer. Never throws.</summary>
    private async Task RunFlightAsync<TState, T>(Call<TState, T> call, Flight<T> flight)
    {
        var (key, _, _, options) = call;
        Exception? error = null;
        var hasValue = false;
        T value = default!;
        try
        {
            // Double-checked: another flight may have stored a value since the caller looked.
            var now = Now();
            var local = GetLocal<T>(key, options, now);
            if (local is not null && local.Error is null)
            {
                if (!flight.IsBackground && now < local.Times.FreshUntil)
                {
                    (hasValue, value) = (true, local.Value);
                    return;
                }

                if (flight.IsBackground && flight.Stale is not null && IsNewer(local, flight.Stale))
                {
                    (hasValue, value) = (true, local.Value); // already refreshed by someone else.
                    return;
                }

                if (now < local.Times.KeepUntil && (flight.Stale is null || IsNewer(local, flight.Stale)))
                {
                    flight.Stale = local;
                }
            }

            if (UsesL2(options))
            {
                var (found, acquired, done) = await ReadThroughBarrierAsync(key, options, flight, call.State is IBatchKey batchKey ? batchKey : null).ConfigureAwait(false);
                if (acquired is not null)
                {
                    flight.HoldLease(acquired, _releaseLease);
                }
                if (done)
                {
                    if (found is not null && found.Error is null && now < found.Times.FreshUntil)
                    {
                        (hasValue, value) = (true, found.Value);
                    }
                    else if (found is null && flight.Stale is not null)
                    {
                        (hasValue, value) = (true, flight.Stale.Value);
                    }

                    if (hasValue || flight.IsBackground)
                    {
                        return;
                    }
                }
            }

            // The factory, awaited here (one state machine for the whole run, however the factory completes).
            var run = StartFactory(call, flight);
            try
            {
                T produced;
                try
                {
                    produced = run.Running.IsCompletedSuccessfully ? run.Running.Result : await run.Running.ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    (hasValue, value, error) = FactoryFailed(key, options, flight, run, ex);
                    return;
                }

                (hasValue, value, error) = await StoreResultAsync(key, flight, run, produced).ConfigureAwait(false);
            }
            finally
            {
                run.Activity?.Dispose();
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            await flight.ReleaseLeaseAsync().ConfigureAwait(false);

            _flights.Remove(key, flight);
            if (!hasValue && error is null && flight.Stale is { Error: null } previous)
            {
                // A background refresh that left the work to another node: callers who joined it get the value we have.
                (hasValue, value) = (true, previous.Value);
            }

            if (hasValue)
            {
                flight.TrySetResult(value);
            }
            else
            {
                flight.SetException(error ?? new StampedeGuardException($"The run for key '{key}' ended without a value."));
            }
        }
    }

    /// <summary>A factory run as started: what its end needs (its task, the context, the stale value, the span, its start, the task a timeout may abandon).</summary>
    private readonly record struct FactoryStart<T>(ValueTask<T> Running, StampedeFactoryContext<T> Context, CacheEntry<T>? Stale, Activity? Activity, long Started, Task<T>? Pending, bool Bounded);

    /// <summary>
    /// Starts the factory: inline on the leader when no timeout bounds it (no thread-pool hop; a factory that blocks
    /// synchronously holds its caller until it returns, which is the caller's or FactoryHardTimeout's to bound), else
    /// on the thread pool, so a factory that blocks before its first await escapes neither timeout. Never throws: a
    /// factory that throws at once gives a failed <see cref="FactoryStart{T}.Running"/>.
    /// </summary>
    private FactoryStart<T> StartFactory<TState, T>(Call<TState, T> call, Flight<T> flight)
    {
        var (key, state, factory, options) = call;
        var stale = flight.Stale;
        var context = NewContext(key, options, stale, flight.Lease);
        var activity = StampedeMetrics.ActivitySource.StartActivity("stampedeguard.factory");
        activity?.SetTag("stampedeguard.refresh", flight.IsBackground);
        _metrics.Tag(activity);
        _metrics.FactoryRun();
        var started = Timestamp();
        var hard = TimerBound(options.FactoryHardTimeout);
        var token = flight.Token;
        if (hard != Timeout.InfiniteTimeSpan || TimerBound(options.FactorySoftTimeout) != Timeout.InfiniteTimeSpan)
        {
            var pending = StartOnThreadPool(call, flight, context, token);
            var running = hard == Timeout.InfiniteTimeSpan ? pending : pending.WaitAsync(hard, _time);
            return new FactoryStart<T>(new ValueTask<T>(running), context, stale, activity, started, pending, Bounded: true);
        }

        var computing = ComputingKey.Enter(flight, this, key);
        try
        {
            return new FactoryStart<T>(factory(state, context, token), context, stale, activity, started, null, Bounded: false);
        }
        catch (Exception ex)
        {
            return new FactoryStart<T>(ValueTask.FromException<T>(ex), context, stale, activity, started, null, Bounded: false);
        }
        finally
        {
            ComputingKey.Exit(computing); // the factory's own continuations keep the mark; the leader does not
        }
    }

    /// <summary>The factory failed or timed out: a cancellation nobody waits for, a hard timeout, or fail-safe.</summary>
    private (bool HasValue, T Value, Exception? Error) FactoryFailed<T>(string key, StampedeCacheEntryOptions options, Flight<T> flight, in FactoryStart<T> run, Exception ex)
    {
        var elapsed = TimeSpan.FromTicks(TicksBetween(run.Started, Timestamp()));
        _metrics.RecordFactoryDuration(elapsed.Ticks);
        if (flight.Token.IsCancellationRequested)
        {
            // Every waiter went away (or the cache was disposed): nobody wants this value. Whatever the factory made of
            // its cancelled token, it is not an origin failure (no fail-safe, no negative entry, no throttle).
            return (false, default!, ex);
        }

        _metrics.FactoryErrors.Add(1);
        run.Activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
        if (ex is TimeoutException && run.Bounded && !IsFactorysOwn(run.Pending, ex))
        {
            // Our hard timeout fired (even if the factory completed at that very instant): always this type.
            flight.CancelRun();
            ObserveAbandoned(key, run.Pending);
            Log.FactoryHardTimeout(_logger, key, options.FactoryHardTimeout.TotalSeconds);
            ex = new StampedeFactoryTimeoutException($"The factory for key '{key}' did not complete within {options.FactoryHardTimeout}.", ex);
        }

        return FailSafe(key, run.Context.EffectiveOptions, flight, ex, elapsed);
    }

    /// <summary>
    /// The factory's value: stored in L2 (fenced) then L1, unless the factory said DoNotCache or an invalidation
    /// superseded the run while it ran. Completes synchronously for a local-only cache.
    /// </summary>
    private async ValueTask<(bool HasValue, T Value, Exception? Error)> StoreResultAsync<T>(string key, Flight<T> flight, FactoryStart<T> run, T value)
    {
        var ended = Timestamp();
        var duration = TicksBetween(run.Started, ended);
        _metrics.RecordFactoryDuration(duration);
        var entryOptions = run.Context.EffectiveOptions;
        if (run.Context.IsCachingDisabled)
        {
            return (true, value, null);
        }

        // The run began at its distributed read (on the store's clock) or, without one, when its factory started.
        var origin = flight.ReadStamp > 0 ? flight.ReadStamp : TicksAt(run.Started) + _distributed.StampOffset;
        if (flight.IsSuperseded || _invalidations.InvalidatedSince(entryOptions.Tags, origin))
        {
            // A newer run, SetAsync, RemoveAsync, or an invalidation of one of its tags happened while it ran: the
            // result may predate the invalidation, so answer this run's waiters but don't store it.
            return (true, value, null);
        }

        var times = EntryTimes.From(TicksAt(ended), entryOptions, duration);
        var entry = NewEntry(value, null, times, entryOptions, previousFactoryTicks: run.Stale?.Times.FactoryTicks ?? -1, origin: flight.ReadStamp > 0 ? origin : times.Created);
        if (!flight.TryBeginStore())
        {
            return (true, value, null); // superseded while it finished: answer the waiters, store nothing.
        }

        try
        {
            WriteOutcome write;
            if (flight.Lease is { LeaseLost.IsCancellationRequested: true })
            {
                // A lease already known lost (a pause or partition outlasted it): refused without the round trip.
                write = new WriteOutcome(DistributedOutcome.LeaseLost, 0);
            }
            else
            {
                write = await _distributed.WriteRunAsync(key, entry, entryOptions, flight).ConfigureAwait(false);
            }

            if (write.Outcome == DistributedOutcome.Done && !write.WasSkipped && flight.Lease is not null)
            {
                flight.Lease = null; // the fenced write released it
            }

            switch (write.Outcome)
            {
                case DistributedOutcome.Superseded:
                    // An invalidation (or a newer write) changed the key after this run read it: it wins everywhere.
                    _metrics.RefusedWrite("superseded");
                    Log.RunSuperseded(_logger, key);
                    break;
                case DistributedOutcome.LeaseLost:
                    // Another node owns the key now (our lease expired and it may have written): keep nothing of ours
                    // locally, take the winner's value if it is there. Our waiters still get our result.
                    _metrics.RefusedWrite("lease_lost");
                    Log.FencedWriteRefused(_logger, key);
                    _local.Remove(key);
                    var winner = await _distributed.ReadAsync<T>(key, default, entryOptions, run: null, learnClock: false, CancellationToken.None).ConfigureAwait(false);
                    if (winner.Entry is { } found)
                    {
                        SetLocal(key, found, entryOptions, Now(), flight.LocalGeneration);
                    }

                    break;
                default:
                    // Written (at its new version), or kept local only (L2 skipped or unreachable): then at the version
                    // its run read, so any later change this node hears of (a higher version) still wins over it.
                    entry.Version = write.Version != 0 ? write.Version : _distributed.HasStore ? Math.Max(flight.ReadVersion, 1) : 0;
                    SetLocal(key, entry, entryOptions, times.Created, flight.LocalGeneration);
                    break;
            }
        }
        finally
        {
            flight.EndStore();
        }

        return (true, value, null);
    }

    /// <summary>
    /// Starts the factory on the thread pool (a timeout bounds it). A method of its own so that the closure is only
    /// allocated on this path, not at the start of every run.
    /// </summary>
    private Task<T> StartOnThreadPool<TState, T>(Call<TState, T> call, Flight flight, StampedeFactoryContext<T> context, CancellationToken token) =>
        Task.Run(
            () =>
            {
                ComputingKey.Enter(flight, this, call.Key); // flows into the factory only, never back to the caller
                return call.Factory(call.State, context, token).AsTask();
            },
            CancellationToken.None);

    private (bool HasValue, T Value, Exception? Error) FailSafe<T>(string key, StampedeCacheEntryOptions options, Flight<T> flight, Exception error, TimeSpan elapsed)
    {
        var now = Now();
        var stale = flight.Stale;
        var stillFresh = flight.IsBackground && stale is not null && now < stale.Times.FreshUntil;
        if (!stillFresh && stale is not null && stale.Error is null && options.StaleIfError > TimeSpan.Zero && now < stale.Times.KeepUntil)
        {
            // Serve the last good value and keep serving it for FailSafeThrottle before the factory is tried again.
            _metrics.FailSafeActivations.Add(1);
            Log.FailSafeActivated(_logger, key, TimeSpan.FromTicks(now - stale.Times.Created).TotalSeconds, options.FailSafeThrottle.TotalSeconds, error);
            var throttleUntil = Math.Min(EntryTimes.Add(now, options.FailSafeThrottle.Ticks), stale.Times.KeepUntil);
            if (throttleUntil > stale.Times.FreshUntil)
            {
                var throttled = new EntryTimes(stale.Times.Created, throttleUntil, Math.Max(throttleUntil, stale.Times.StaleUntil), stale.Times.KeepUntil, stale.Times.FactoryTicks);
                StoreLocallyForRun(flight, key, new CacheEntry<T>(stale.Value, null, throttled, stale.Tags, long.MaxValue, stale.Mode, stale.Beta) { IsFailSafe = true, PayloadBytes = stale.PayloadBytes, Origin = stale.Origin, Version = stale.Version }, options);
            }

            return (true, stale.Value, null);
        }

        if (flight.IsBackground)
        {
            Log.BackgroundRefreshFailed(_logger, key, error);
            flight.Claimed?.ReleaseStaleRefreshClaim(); // a later stale hit may try again (one at a time).
        }
        else
        {
            Log.FactoryFailed(_logger, key, error);
        }

        // Negative caching only replaces nothing: never a value that is still being served (background refresh, or a
        // stale value already given to this run's waiters).
        if (options.NegativeCacheDuration > TimeSpan.Zero && !flight.IsBackground && !flight.IsAnswered && !flight.IsSuperseded)
        {
            var until = EntryTimes.Add(now, options.NegativeCacheDuration.Ticks);
            var times = new EntryTimes(now, until, until, until, elapsed.Ticks);
            StoreLocallyForRun(flight, key, new CacheEntry<T>(default!, ExceptionDispatchInfo.Capture(error), times, null, long.MaxValue, options.EarlyRefresh, 0), options);
        }

        return (false, default!, error);
    }

    private void ValidateKey(string key) => StampedeKeys.Validate(key, _options.MaximumKeyLength, nameof(key));

    private void RecordWait(long started)
    {
        if (started != 0 && _metrics.WaitDuration.Enabled)
        {
            _metrics.WaitDuration.Record(_time.GetElapsedTime(started).TotalSeconds);
        }
    }
}
