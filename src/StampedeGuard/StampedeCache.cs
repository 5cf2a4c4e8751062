using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StampedeGuard.Distributed;
using StampedeGuard.Internal;
using StampedeGuard.Serialization;
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
public sealed class StampedeCache : IStampedeCache, IDisposable
{
    private const string TagMarkerPrefix = "\u0001tag:";

    /// <summary>How long a tag invalidation is remembered in the distributed tier: entries living longer than this in L2 outlive it.</summary>
    private static readonly TimeSpan TagMarkerLifetime = TimeSpan.FromDays(365);

    private readonly StampedeCacheOptions _options;
    private readonly TimeProvider _time;
    private readonly bool _systemClock;
    private readonly LocalTier _local;
    private readonly IStampedeDistributedStore? _l2;
    private readonly IStampedeBackplane? _backplane;
    private readonly IDisposable? _subscription;
    private readonly ILogger _logger;
    private readonly StampedeMetrics _metrics;
    private readonly IHybridCacheSerializerFactory _serializerFactory;
    private readonly ConcurrentDictionary<Type, object> _serializers = new();
    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);
    private readonly Invalidations _invalidations = new();
    private readonly Func<long> _oldestRunStart;
    private readonly string _prefix;
    private volatile bool _disposed;

    /// <summary>Creates a cache. Everything but <paramref name="options"/> is optional.</summary>
    /// <param name="options">Cache-wide options; defaults when null.</param>
    /// <param name="memoryCache">The local tier (L1); a private <see cref="MemoryCache"/> when null.</param>
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
        _prefix = _options.KeyPrefix;
        _time = _options.TimeProvider;
        _systemClock = ReferenceEquals(_time, TimeProvider.System);
        _local = new LocalTier(memoryCache, _time, _options.LocalCacheSizeLimit, _options.LocalSweepTimeProvider);
        _l2 = distributedStore;
        _backplane = backplane;
        _logger = (ILogger?)loggerFactory?.CreateLogger<StampedeCache>() ?? NullLogger.Instance;
        _metrics = new StampedeMetrics(meterFactory);
        _serializerFactory = _options.SerializerFactory ?? new JsonStampedeSerializerFactory();
        _oldestRunStart = OldestRunStart;
        _subscription = _backplane?.Subscribe(OnBackplaneMessage);
    }

    /// <summary>Gets the options this cache was created with.</summary>
    public StampedeCacheOptions Options => _options;

    internal Meter Meter => _metrics.Meter;

    internal int FlightCount => _flights.Count;

    internal IMemoryCache LocalCache => _local.Cache;

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
        ValidateKey(key);
        ArgumentNullException.ThrowIfNull(factory);
        options ??= _options.DefaultEntryOptions;

        // 1. Fresh L1 hit. The hot slot expires (by IMemoryCache's own clock check) at the entry's refresh point, so
        //    finding it means "fresh, no refresh due": one lookup, no clock read of ours, no allocation.
        if (!options.SkipLocalCacheRead && _local.TryGetHot(key, out var found) && found is CacheEntry<T> entry && entry.Error is null
            && (_local.TrustsExpiry || Now() < Math.Min(entry.HotUntil, entry.LocalUntil)) && !IsInvalidated(entry))
        {
            _metrics.Hit();
            return new ValueTask<T>(entry.Value);
        }

        return GetOrCreateSlowAsync(key, state, factory, options, cancellationToken);
    }

    private async ValueTask<T> GetOrCreateSlowAsync<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ComputingKey.Contains(this, key))
        {
            // The factory of this key asks for the key itself: waiting for its own run would never end.
            throw new InvalidOperationException($"The factory for key '{key}' called GetOrCreateAsync for the same key (re-entrant call); it would wait for itself forever.");
        }

        var now = Now();
        var entry = GetLocal<T>(key, options);
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

                return entry.Value;
            }

            if (entry.Error is null && now < entry.Times.StaleUntil)
            {
                // 2. Stale hit: serve it, one background refresh.
                _metrics.Stale();
                if (entry.TryClaimStaleRefresh())
                {
                    StartBackgroundRefresh(key, state, factory, options, entry, early: false);
                }

                return entry.Value;
            }

            if (entry.Error is null && now < entry.Times.KeepUntil)
            {
                stale = entry;
            }
        }

        // 3. Miss: lead or join the key's flight.
        return await JoinFlightAsync(key, state, factory, options, stale, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<T> JoinFlightAsync<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, CacheEntry<T>? stale, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        Flight<T> flight;
        var leader = false;
        while (true)
        {
            if (_flights.TryGetValue(key, out var existing))
            {
                if (existing is not Flight<T> typed)
                {
                    // The same key is being computed as another type: do not share, do not block.
                    _metrics.Miss();
                    return await factory(state, NewContext(key, options, stale, default), cancellationToken).ConfigureAwait(false);
                }

                if (typed.TryJoin())
                {
                    flight = typed;
                    break;
                }

                // Closed (every waiter cancelled) but not yet removed: replace it.
                var replacement = NewFlight(stale, options);
                if (_flights.TryUpdate(key, replacement, existing))
                {
                    _ = typed.Supersede();
                    (flight, leader) = (replacement, true);
                    break;
                }
            }
            else
            {
                var created = NewFlight(stale, options);
                if (_flights.TryAdd(key, created))
                {
                    (flight, leader) = (created, true);
                    break;
                }
            }
        }

        if (leader)
        {
            _metrics.Miss();
            _ = RunFlightAsync(key, state, factory, options, flight);
        }
        else
        {
            _metrics.Collapsed();

            // 4. Bounded wait: the first waiter behind someone else's run arms the run's one LockTimeout timer. When
            //    it fires, one replacement run starts and answers every waiter of the hung run (no per-waiter timer,
            //    no convoy): a wait is bounded by LockTimeout plus the replacement's own bounds.
            var lockTimeout = TimerBound(options.LockTimeout);
            if (lockTimeout != Timeout.InfiniteTimeSpan)
            {
                flight.ArmTakeover(_time, lockTimeout, () => TakeOver(key, state, factory, options, flight));
            }
        }

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
                catch (TimeoutException) when (!flight.Answer.IsCompleted && (flight.Stale ?? stale) is { } fallback)
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
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            cancelled = true;
            throw;
        }
        finally
        {
            flight.Leave(cancelled);
        }
    }

    private Flight<T> NewFlight<T>(CacheEntry<T>? stale, StampedeCacheEntryOptions options)
    {
        var flight = new Flight<T>(stale, background: false) { Tags = options.Tags, StartedAt = Now() };
        flight.TryJoin();
        return flight;
    }

    /// <summary>
    /// LockTimeout passed behind a run that has not answered: one replacement run takes the key over, and its answer
    /// (or the hung run's, whichever comes first) goes to every waiter of the hung run. The hung run stores nothing.
    /// </summary>
    private void TakeOver<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, Flight<T> hung)
    {
        if (hung.Answer.IsCompleted || _disposed)
        {
            return;
        }

        var replacement = new Flight<T>(hung.Stale, background: false) { Tags = options.Tags, StartedAt = Now() };
        if (!_flights.TryUpdate(key, replacement, hung))
        {
            return; // superseded or ended meanwhile: its waiters keep their run.
        }

        _ = hung.Supersede();
        _metrics.LockTimeouts.Add(1);
        Log.LockTimeout(_logger, key, options.LockTimeout.TotalSeconds);
        hung.AnswerFrom(replacement);
        _ = Task.Run(() => RunFlightAsync(key, state, factory, options, replacement));
    }

    private void MaybeRefreshEarly<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, CacheEntry<T> entry, long now)
    {
        if (!entry.IsRefreshClaimed && entry.ShouldRefreshEarly(now) && entry.TryClaimRefresh())
        {
            // The refresh is claimed: nothing is left to decide until the entry's freshness ends, so put it back in
            // the hot slot (before the refresh starts, so the refresh's own write always lands after this one).
            _local.StoreHot(key, entry, Math.Min(entry.Times.FreshUntil, entry.LocalUntil), now);

            StartBackgroundRefresh(key, state, factory, options, entry, early: true);
        }
    }

    private void StartBackgroundRefresh<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, CacheEntry<T> current, bool early)
    {
        var flight = new Flight<T>(current, background: true) { Claimed = early ? null : current, Tags = options.Tags, StartedAt = Now() };
        if (!_flights.TryAdd(key, flight))
        {
            return; // a run for this key is already under way; it will replace the entry.
        }

        (early ? _metrics.EarlyRefreshes : _metrics.BackgroundRefreshes).Add(1);
        _ = Task.Run(() => RunFlightAsync(key, state, factory, options, flight));
    }

    /// <summary>The leader's work: double-check, distributed barrier, factory, store, answer. Never throws.</summary>
    private async Task RunFlightAsync<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, Flight<T> flight)
    {
        Exception? error = null;
        var hasValue = false;
        T value = default!;
        try
        {
            // Double-checked: another flight may have stored a value since the caller looked.
            var now = Now();
            var local = GetLocal<T>(key, options);
            if (local is not null && local.Error is null)
            {
                if (!flight.IsBackground && now < local.Times.FreshUntil)
                {
                    (hasValue, value) = (true, local.Value);
                    return;
                }

                if (flight.IsBackground && flight.Stale is not null && local.Times.Created > flight.Stale.Times.Created)
                {
                    (hasValue, value) = (true, local.Value); // already refreshed by someone else.
                    return;
                }

                if (now < local.Times.KeepUntil && (flight.Stale is null || local.Times.Created > flight.Stale.Times.Created))
                {
                    flight.Stale = local;
                }
            }

            if (UsesL2(options))
            {
                var (found, acquired, done) = await ReadThroughBarrierAsync(key, options, flight).ConfigureAwait(false);
                flight.Lease = acquired;
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

            (hasValue, value, error) = await RunFactoryAsync(key, state, factory, options, flight).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            if (flight.Lease is { } held)
            {
                flight.Lease = null;
                await ReleaseQuietlyAsync(held).ConfigureAwait(false);
            }

            _flights.TryRemove(new KeyValuePair<string, Flight>(key, flight));
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

    /// <summary>
    /// Reads L2 through the barrier: one round trip that returns the value or takes the lock. If another node holds
    /// the lock, waits for its value (push, bounded by its lease and LockTimeout). Returns done=true when no factory
    /// run is needed here.
    /// </summary>
    private async ValueTask<(CacheEntry<T>? Found, StampedeLease? Lease, bool Done)> ReadThroughBarrierAsync<T>(string key, StampedeCacheEntryOptions options, Flight<T> flight)
    {
        var useLock = _l2!.SupportsLocking && !options.SkipDistributedLock;
        var waitStarted = _time.GetTimestamp();
        var mode = useLock ? DistributedLockMode.AcquireIfNotFresh : DistributedLockMode.None;

        // A refresh judges freshness at the end of the value it replaces: that value must not satisfy it, and the
        // store must let it take the lock although the value is still fresh.
        var replacing = flight.IsBackground ? flight.Stale : null;
        var judgeAt = replacing is null ? _time.GetUtcNow() : new DateTimeOffset(Math.Max(Now(), replacing.Times.FreshUntil), TimeSpan.Zero);
        ValueTask<DistributedReadResult> ReadOrAcquireAsync() => SafeL2Async(key, "read", (store, k, t) =>
            store.ReadAsync(k, new DistributedReadOptions(mode, replacing is null ? _time.GetUtcNow() : judgeAt, _options.DistributedLockLease), t), flight.Token);

        var read = await ReadOrAcquireAsync().ConfigureAwait(false);
        while (true)
        {
            var now = Now();
            var found = await DecodeAsync<T>(key, read.Envelope, options).ConfigureAwait(false);
            if (found is not null)
            {
                if (now < found.Times.KeepUntil && (flight.Stale is null || found.Times.Created > flight.Stale.Times.Created))
                {
                    flight.Stale = found;
                    StoreLocallyForRun(flight, key, found, options);
                }

                if (now < found.Times.FreshUntil && (replacing is null || found.Times.Created > replacing.Times.Created))
                {
                    return (found, read.Lease, true); // a lease taken anyway is released when the run ends
                }

                if (now < found.Times.StaleUntil && !flight.IsBackground)
                {
                    // Servable stale value from another node: answer the waiters now, refresh on in this flight.
                    flight.TrySetResult(found.Value);
                }
            }

            if (read.Lease is not null || read.LockHeldFor is null)
            {
                return (null, read.Lease, false);
            }

            // Another node is computing. A background refresh leaves it to them (the backplane brings the value).
            if (flight.IsBackground || flight.Answer.IsCompleted)
            {
                return (null, null, true);
            }

            var waited = _time.GetElapsedTime(waitStarted);
            var left = TimerBound(options.LockTimeout) == Timeout.InfiniteTimeSpan ? TimeSpan.MaxValue : options.LockTimeout - waited;
            if (left <= TimeSpan.Zero)
            {
                _metrics.LockTimeouts.Add(1);
                Log.LockTimeout(_logger, key, options.LockTimeout.TotalSeconds);
                return (null, null, false);
            }

            var maxWait = read.LockHeldFor.Value + TimeSpan.FromMilliseconds(50);
            var waitedRead = await SafeL2Async(key, "wait", (store, k, t) => store.WaitForValueAsync(k, maxWait < left ? maxWait : left, t), flight.Token).ConfigureAwait(false);
            var arrived = await DecodeAsync<T>(key, waitedRead.Envelope, options).ConfigureAwait(false);
            if (arrived is not null && Now() < arrived.Times.FreshUntil)
            {
                StoreLocallyForRun(flight, key, arrived, options);
                return (arrived, null, true);
            }

            read = await ReadOrAcquireAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask<(bool HasValue, T Value, Exception? Error)> RunFactoryAsync<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, Flight<T> flight)
    {
        var stale = flight.Stale;
        var context = NewContext(key, options, stale, flight.Lease?.LeaseLost ?? default);
        using var activity = StampedeMetrics.ActivitySource.StartActivity("StampedeGuard.Factory");
        activity?.SetTag("stampedeguard.refresh", flight.IsBackground);
        _metrics.FactoryRuns.Add(1);
        var runStartedAt = Now();
        var started = _time.GetTimestamp();
        T value;
        Task<T>? pending = null;
        try
        {
            // Off the caller's thread: a factory that blocks before its first await must not hold the leader's caller
            // (its cancellation) nor escape the hard timeout.
            var token = flight.Token;
            pending = Task.Run(
                () =>
                {
                    ComputingKey.Enter(this, key); // flows into the factory only, never back to the caller
                    return factory(state, context, token).AsTask();
                },
                CancellationToken.None);
            var hard = TimerBound(options.FactoryHardTimeout);
            value = hard == Timeout.InfiniteTimeSpan
                ? await pending.ConfigureAwait(false)
                : await pending.WaitAsync(hard, _time).ConfigureAwait(false);
        }
        catch (Exception ex) when (flight.Token.IsCancellationRequested)
        {
            // Every waiter went away (or the cache was disposed): nobody wants this value. Whatever the factory made of
            // its cancelled token, it is not an origin failure (no fail-safe, no negative entry, no throttle).
            _metrics.FactoryDuration.Record(_time.GetElapsedTime(started).TotalSeconds);

            return (false, default!, ex);
        }
        catch (Exception ex)
        {
            var elapsed = _time.GetElapsedTime(started);
            _metrics.FactoryDuration.Record(elapsed.TotalSeconds);
            _metrics.FactoryErrors.Add(1);
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            if (ex is TimeoutException && !IsFactorysOwn(pending, ex))
            {
                // Our hard timeout fired (even if the factory completed at that very instant): always this type.
                flight.CancelFactory();
                ObserveAbandoned(key, pending);
                Log.FactoryHardTimeout(_logger, key, options.FactoryHardTimeout.TotalSeconds);
                ex = new StampedeFactoryTimeoutException($"The factory for key '{key}' did not complete within {options.FactoryHardTimeout}.", ex);
            }


            return FailSafe(key, context.Options, flight, ex, elapsed);
        }

        var duration = _time.GetElapsedTime(started);
        _metrics.FactoryDuration.Record(duration.TotalSeconds);
        if (context.IsCachingDisabled)
        {

            return (true, value, null);
        }

        if (flight.IsSuperseded || _invalidations.InvalidatedSince(context.Options.Tags, runStartedAt))
        {
            // A newer run, SetAsync, RemoveAsync, or an invalidation of one of its tags happened while it ran: the
            // result may predate the invalidation, so answer this run's waiters but don't store it.

            return (true, value, null);
        }

        var entryOptions = context.Options;
        var times = EntryTimes.From(Now(), entryOptions, duration.Ticks);
        var entry = NewEntry(value, null, times, entryOptions, previousFactoryTicks: stale?.Times.FactoryTicks ?? -1);
        var store = flight.TryBeginStore();
        if (store is null)
        {
            return (true, value, null); // superseded while it finished: answer the waiters, store nothing.
        }

        try
        {
            var write = await WriteDistributedAsync(key, entry, entryOptions, flight.Lease).ConfigureAwait(false);
            if (write == DistributedWrite.ConsumedLease)
            {
                flight.Lease = null; // the fenced write released it
            }

            if (write == DistributedWrite.Refused)
            {
                // Another node owns the key now (our lease expired and it wrote): keep nothing of ours locally, take
                // the winner's value if it is there. Our waiters still get our result.
                _local.Remove(key);
                var winner = await SafeL2Async(key, "read", static (s, k, t) => s.ReadAsync(k, default, t), CancellationToken.None).ConfigureAwait(false);
                if (await DecodeAsync<T>(key, winner.Envelope, entryOptions).ConfigureAwait(false) is { } found)
                {
                    SetLocal(key, found, entryOptions);
                }
            }
            else
            {
                SetLocal(key, entry, entryOptions);
            }
        }
        finally
        {
            flight.EndStore(store);
        }

        return (true, value, null);
    }

    /// <summary>Whether <paramref name="error"/> was thrown by the factory itself (not by the hard-timeout wait).</summary>
    private static bool IsFactorysOwn(Task? pending, Exception error) =>
        pending is { IsFaulted: true, Exception: { } faults } && faults.InnerExceptions.Contains(error);

    /// <summary>
    /// A factory task nobody awaits any more (hard timeout, cancelled run): its eventual failure is observed, logged
    /// and counted, never an UnobservedTaskException.
    /// </summary>
    private void ObserveAbandoned(string key, Task? pending)
    {
        pending?.ContinueWith(
            static (task, state) =>
            {
                var (cache, key) = ((StampedeCache, string))state!;
                var error = task.Exception!.InnerException ?? task.Exception;
                if (error is not OperationCanceledException)
                {
                    cache._metrics.FactoryErrors.Add(1);
                    Log.AbandonedFactoryFailed(cache._logger, key, error);
                }
            },
            (this, key),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

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
                StoreLocallyForRun(flight, key, new CacheEntry<T>(stale.Value, null, throttled, stale.Tags, long.MaxValue, stale.Mode, stale.Beta) { IsFailSafe = true, PayloadBytes = stale.PayloadBytes }, options);
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
        if (options.NegativeCacheDuration > TimeSpan.Zero && !flight.IsBackground && !flight.Answer.IsCompleted && !flight.IsSuperseded)
        {
            var until = EntryTimes.Add(now, options.NegativeCacheDuration.Ticks);
            var times = new EntryTimes(now, until, until, until, elapsed.Ticks);
            StoreLocallyForRun(flight, key, new CacheEntry<T>(default!, ExceptionDispatchInfo.Capture(error), times, null, long.MaxValue, options.EarlyRefresh, 0), options);
        }

        return (false, default!, error);
    }

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
        var entry = GetLocal<T>(key, options);
        if (entry is null && UsesL2(options))
        {
            var read = await SafeL2Async(key, "read", static (store, k, t) => store.ReadAsync(k, default, t), cancellationToken).ConfigureAwait(false);
            entry = await DecodeAsync<T>(key, read.Envelope, options).ConfigureAwait(false);
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
        var entry = NewEntry(value, null, EntryTimes.From(Now(), options, 0), options, 0);
        await WriteDistributedAsync(key, entry, options, lease: null, cancellationToken).ConfigureAwait(false);
        if (options.SkipLocalCacheWrite && !options.SkipLocalCacheRead)
        {
            _local.Remove(key); // an older local copy must not shadow the value just written to L2.
        }

        SetLocal(key, entry, options);
    }

    /// <inheritdoc />
    public async ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        await SupersedeAsync(key).ConfigureAwait(false);
        _local.Remove(key);
        if (_l2 is not null)
        {
            await SafeL2Async(key, "remove", static async (store, k, t) => { await store.RemoveAsync(k, t).ConfigureAwait(false); return true; }, cancellationToken).ConfigureAwait(false);
        }

        await PublishAsync(new BackplaneMessage(BackplaneMessageKind.Remove, key, null, Now()), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask ExpireAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        await SupersedeAsync(key).ConfigureAwait(false);
        var now = Now();
        ExpireLocal(key, now);
        if (_l2 is not null)
        {
            var read = await SafeL2Async(key, "read", static (store, k, t) => store.ReadAsync(k, default, t), cancellationToken).ConfigureAwait(false);
            if (read.Envelope is { } envelope && Envelope.TryRead(envelope, out var times, out _, out _) && now < times.FreshUntil)
            {
                var expired = Expired(times, now);
                Envelope.PatchTimes(envelope, expired);
                var ttl = LocalTier.Lifetime(Math.Max(expired.KeepUntil, now + TimeSpan.TicksPerMillisecond), now);
                await SafeL2Async(key, "write", (store, k, t) => store.WriteAsync(k, envelope, new DistributedWriteOptions(ttl, new DateTimeOffset(expired.FreshUntil, TimeSpan.Zero), null, Notify: false), t), cancellationToken).ConfigureAwait(false);
            }
        }

        await PublishAsync(new BackplaneMessage(BackplaneMessageKind.Expire, key, null, now), cancellationToken).ConfigureAwait(false);
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

        var now = Now();
        InvalidateTag(tag, now);
        if (_l2 is not null && tag != "*")
        {
            var marker = BitConverter.GetBytes(now);
            await SafeL2Async(TagMarkerPrefix + tag, "write", (store, k, t) => store.WriteAsync(k, marker, new DistributedWriteOptions(TagMarkerLifetime, DateTimeOffset.MaxValue, null, Notify: false), t), cancellationToken).ConfigureAwait(false);
        }

        await PublishAsync(new BackplaneMessage(BackplaneMessageKind.RemoveByTag, tag, null, now), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops listening to the backplane and releases the private memory cache, if any.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;

        // Every run is cancelled and every waiter gets ObjectDisposedException at once.
        var disposed = new ObjectDisposedException(nameof(StampedeCache));
        foreach (var (_, flight) in _flights)
        {
            _ = flight.Supersede();
            flight.Abort(disposed);
        }

        _flights.Clear();
        _subscription?.Dispose();
        _metrics.Dispose();
        _local.Dispose();
    }

    private long Now() => _systemClock ? DateTime.UtcNow.Ticks : _time.GetUtcNow().UtcTicks;

    private void ValidateKey(string key) => StampedeKeys.Validate(key, _options.MaximumKeyLength, nameof(key));

    private bool UsesL2(StampedeCacheEntryOptions options) => _l2 is not null && !options.SkipDistributedCache;

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
        var store = flight.TryBeginStore();
        if (store is null)
        {
            return;
        }

        try
        {
            SetLocal(key, entry, options);
        }
        finally
        {
            flight.EndStore(store);
        }
    }

    private string DistributedKey(string key) => _prefix.Length == 0 ? key : _prefix + key;

    private bool IsInvalidated(CacheEntry entry) => _invalidations.IsInvalidated(entry);

    private void InvalidateTag(string tag, long at) => _invalidations.Invalidate(tag, at, Now(), _oldestRunStart);

    /// <summary>When the oldest run still going started (tag invalidations since then are kept for its check).</summary>
    private long OldestRunStart()
    {
        var oldest = long.MaxValue;
        foreach (var (_, flight) in _flights)
        {
            oldest = Math.Min(oldest, flight.StartedAt);
        }

        return oldest;
    }

    /// <summary>
    /// The L1 entry of a key as a <typeparamref name="T"/> (hot slot, else keep slot), decoding one delivered raw by
    /// the backplane; null if absent or invalidated.
    /// </summary>
    private CacheEntry<T>? GetLocal<T>(string key, StampedeCacheEntryOptions options)
    {
        var found = options.SkipLocalCacheRead ? null : _local.Find(key);
        if (found is null)
        {
            return null;
        }

        if (found is RawEnvelope raw)
        {
            var decoded = Decode<T>(key, raw.Bytes, options);
            if (decoded is not null)
            {
                SetLocal(key, decoded, options);
            }

            return decoded;
        }

        return found is CacheEntry<T> entry && !IsInvalidated(entry) && (_local.TrustsExpiry || Now() < entry.LocalUntil) ? entry : null;
    }

    /// <summary>
    /// Stores an entry in L1's two slots: the hot slot until the entry's refresh point (what a hit finds), and the
    /// keep slot until the end of its fail-safe window (stale serving, fail-safe, soft timeouts); both end at
    /// LocalDuration if set.
    /// </summary>
    private void SetLocal(string key, CacheEntry entry, StampedeCacheEntryOptions options)
    {
        if (options.SkipLocalCacheWrite)
        {
            return;
        }

        var now = Now();
        var keepUntil = entry.Times.KeepUntil;
        var hotUntil = entry.HotUntil;
        if (options.LocalDuration is { } local)
        {
            entry.LocalUntil = EntryTimes.Add(now, local.Ticks);
            keepUntil = Math.Min(keepUntil, entry.LocalUntil);
            hotUntil = Math.Min(hotUntil, entry.LocalUntil);
        }

        _local.Store(key, entry, entry.Bytes, hotUntil, keepUntil, now);
    }

    private void ExpireLocal(string key, long now)
    {
        var found = _local.FindKept(key) ?? _local.Find(key);
        if (found is CacheEntry entry)
        {
            if (now < entry.Times.FreshUntil)
            {
                var expired = entry.WithTimes(Expired(entry.Times, now));
                expired.LocalUntil = entry.LocalUntil;
                _local.StoreKeptOnly(key, expired, expired.Bytes, Math.Max(expired.Times.KeepUntil, now + 1), now);
            }
        }
        else if (found is not null)
        {
            _local.Remove(key);
        }
    }

    /// <summary>Expired now, but still servable as stale until at least its original fresh end: the next read refreshes once.</summary>
    private static EntryTimes Expired(in EntryTimes times, long now) =>
        times with { FreshUntil = now, StaleUntil = Math.Max(times.StaleUntil, times.FreshUntil), KeepUntil = Math.Max(times.KeepUntil, times.FreshUntil) };

    private CacheEntry<T> NewEntry<T>(T value, ExceptionDispatchInfo? error, in EntryTimes times, StampedeCacheEntryOptions options, long previousFactoryTicks)
    {
        var tags = options.Tags is { Count: > 0 } list ? [.. list] : (string[]?)null;
        if (tags is not null)
        {
            _invalidations.NoteTaggedEntry(times);
        }

        return new CacheEntry<T>(value, error, times, tags, CacheEntry.ComputeRefreshCheckAt(times, previousFactoryTicks, options.EarlyRefresh, options.EarlyRefreshBeta), options.EarlyRefresh, options.EarlyRefreshBeta);
    }

    private StampedeFactoryContext<T> NewContext<T>(string key, StampedeCacheEntryOptions options, CacheEntry<T>? stale, CancellationToken leaseLost) =>
        new(key, options.Clone(), stale is not null, stale is null ? default : stale.Value, stale is null ? null : TimeSpan.FromTicks(Now() - stale.Times.Created), leaseLost);

    private IHybridCacheSerializer<T> Serializer<T>() =>
        (IHybridCacheSerializer<T>)_serializers.GetOrAdd(typeof(T), static (_, factory) =>
            factory.TryCreateSerializer<T>(out var serializer) ? serializer : throw new InvalidOperationException($"No serializer for {typeof(T)}."), _serializerFactory);

    /// <summary>
    /// Writes an entry to L2 (fenced by <paramref name="lease"/> if any) and tells other nodes. An entry that is not
    /// written (L2 skipped, payload too large, not serializable) still tells them to drop their older copy.
    /// </summary>
    /// <returns>Whether the write consumed <paramref name="lease"/> (the store released it with the write) or was refused.</returns>
    private async ValueTask<DistributedWrite> WriteDistributedAsync<T>(string key, CacheEntry<T> entry, StampedeCacheEntryOptions options, StampedeLease? lease, CancellationToken cancellationToken = default)
    {
        var envelope = UsesL2(options) ? SerializeEnvelope(key, entry) : null;
        if (envelope is null)
        {
            await PublishAsync(new BackplaneMessage(BackplaneMessageKind.Remove, key, null, entry.Times.Created), cancellationToken).ConfigureAwait(false);
            return DistributedWrite.NotConsumed;
        }

        var now = Now();
        var ttl = LocalTier.Lifetime(Math.Max(entry.Times.KeepUntil, now + TimeSpan.TicksPerMillisecond), now);
        var writeOptions = new DistributedWriteOptions(ttl, new DateTimeOffset(entry.Times.FreshUntil, TimeSpan.Zero), lease, Notify: true);
        // Null when the store failed (logged, counted): not a refusal, the lease is released when the run ends.
        var attempt = await SafeL2Async<DistributedWriteResult?>(key, "write", async (store, k, t) => await store.WriteAsync(k, envelope, writeOptions, t).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        if (lease is not null && attempt is { Written: false })
        {
            Log.FencedWriteRefused(_logger, key);
            return DistributedWrite.Refused;
        }

        var result = attempt.GetValueOrDefault();

        if (!result.Notified && result.Written)
        {
            await PublishAsync(new BackplaneMessage(BackplaneMessageKind.Set, key, envelope.Length <= 64 * 1024 ? envelope : null, entry.Times.Created), cancellationToken).ConfigureAwait(false);
        }

        return lease is not null && result.Written ? DistributedWrite.ConsumedLease : DistributedWrite.NotConsumed;
    }

    /// <summary>The entry's envelope, or null (logged) when the payload is over MaximumPayloadBytes or cannot be serialized.</summary>
    private byte[]? SerializeEnvelope<T>(string key, CacheEntry<T> entry)
    {
        try
        {
            if (entry.Value is null)
            {
                entry.PayloadBytes = 0;
                return Envelope.Write(entry.Times, entry.Tags, default, Envelope.NullValue);
            }

            var buffer = new ArrayBufferWriter<byte>();
            Serializer<T>().Serialize(entry.Value, buffer);
            entry.PayloadBytes = buffer.WrittenCount;
            if (buffer.WrittenCount > _options.MaximumPayloadBytes)
            {
                Log.PayloadTooLarge(_logger, key, buffer.WrittenCount, _options.MaximumPayloadBytes);
                return null;
            }

            return Envelope.Write(entry.Times, entry.Tags, buffer.WrittenSpan);
        }
        catch (Exception ex) when (!_options.ThrowOnDistributedCacheErrors)
        {
            _metrics.DistributedErrors.Add(1);
            Log.DistributedError(_logger, "serialize", key, ex);
            return null;
        }
    }

    private async ValueTask<CacheEntry<T>?> DecodeAsync<T>(string key, byte[]? envelope, StampedeCacheEntryOptions options)
    {
        if (envelope is null)
        {
            return null;
        }

        var entry = Decode<T>(key, envelope, options);
        if (entry?.Tags is { } tags && _backplane is null && _l2 is not null)
        {
            // No backplane to tell us about other nodes' tag invalidations: ask the shared tier.
            foreach (var tag in tags)
            {
                var marker = await SafeL2Async(TagMarkerPrefix + tag, "read", static (store, k, t) => store.ReadAsync(k, default, t), CancellationToken.None).ConfigureAwait(false);
                if (marker.Envelope is { Length: 8 } bytes)
                {
                    InvalidateTag(tag, BitConverter.ToInt64(bytes));
                }
            }

            if (IsInvalidated(entry))
            {
                return null;
            }
        }

        return entry;
    }

    private CacheEntry<T>? Decode<T>(string key, byte[] envelope, StampedeCacheEntryOptions options)
    {
        try
        {
            if (!Envelope.TryRead(envelope, out var times, out var tags, out var payload, out var flags))
            {
                _metrics.DistributedErrors.Add(1);
                Log.CorruptEnvelope(_logger, key, null);
                return null;
            }

            if (tags is not null)
            {
                _invalidations.NoteTaggedEntry(times);
            }

            var value = (flags & Envelope.NullValue) != 0 ? default! : Serializer<T>().Deserialize(new ReadOnlySequence<byte>(payload));
            var entry = new CacheEntry<T>(value, null, times, tags, CacheEntry.ComputeRefreshCheckAt(times, times.FactoryTicks, options.EarlyRefresh, options.EarlyRefreshBeta), options.EarlyRefresh, options.EarlyRefreshBeta) { PayloadBytes = payload.Length };
            return IsInvalidated(entry) ? null : entry;
        }
        catch (Exception ex)
        {
            _metrics.DistributedErrors.Add(1);
            Log.CorruptEnvelope(_logger, key, ex);
            return null;
        }
    }

    private async ValueTask<TResult> SafeL2Async<TResult>(string key, string operation, Func<IStampedeDistributedStore, string, CancellationToken, ValueTask<TResult>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(_l2!, DistributedKey(key), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!_options.ThrowOnDistributedCacheErrors && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            _metrics.DistributedErrors.Add(1);
            Log.DistributedError(_logger, operation, key, ex);
            return default!;
        }
    }

    private async ValueTask ReleaseQuietlyAsync(StampedeLease lease)
    {
        try
        {
            await lease.ReleaseAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _metrics.DistributedErrors.Add(1);
            Log.DistributedError(_logger, "release", lease.Name, ex);
        }
    }

    private async ValueTask PublishAsync(BackplaneMessage message, CancellationToken cancellationToken)
    {
        if (_backplane is null)
        {
            return;
        }

        try
        {
            await _backplane.PublishAsync(message with { Key = DistributedKey(message.Key) }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!_options.ThrowOnDistributedCacheErrors)
        {
            _metrics.DistributedErrors.Add(1);
            Log.DistributedError(_logger, "publish", message.Key, ex);
        }
    }

    private void OnBackplaneMessage(BackplaneMessage message)
    {
        if (!message.Key.StartsWith(_prefix, StringComparison.Ordinal))
        {
            return; // another application sharing the channel.
        }

        message = message with { Key = message.Key[_prefix.Length..] };
        try
        {
            switch (message.Kind)
            {
                case BackplaneMessageKind.Set when message.Envelope is { } envelope && Envelope.TryRead(envelope, out var times, out _, out _):
                    if (_local.FindKept(message.Key) is CacheEntry current && current.Times.Created >= times.Created)
                    {
                        break;
                    }

                    var now = Now();
                    var until = Math.Max(times.KeepUntil, now + 1);
                    _local.Store(message.Key, new RawEnvelope(envelope), envelope.Length, until, until, now);
                    break;
                case BackplaneMessageKind.Set:
                case BackplaneMessageKind.Remove:
                    _local.Remove(message.Key);
                    break;
                case BackplaneMessageKind.Expire:
                    ExpireLocal(message.Key, message.Timestamp > 0 ? message.Timestamp : Now());
                    break;
                case BackplaneMessageKind.RemoveByTag:
                    InvalidateTag(message.Key, message.Timestamp > 0 ? message.Timestamp : Now());
                    break;
            }
        }
        catch (Exception ex)
        {
            Log.BackplaneError(_logger, message.Key, ex);
        }
    }

    private void RecordWait(long started)
    {
        if (_metrics.WaitDuration.Enabled)
        {
            _metrics.WaitDuration.Record(_time.GetElapsedTime(started).TotalSeconds);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) =>
        a == Timeout.InfiniteTimeSpan ? b : b == Timeout.InfiniteTimeSpan ? a : (a < b ? a : b);

    /// <summary>The outcome of a distributed write for the lease that fenced it.</summary>
    private enum DistributedWrite
    {
        NotConsumed,
        ConsumedLease,
        Refused,
    }
}
