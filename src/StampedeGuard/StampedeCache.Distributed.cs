using StampedeGuard.Distributed;
using StampedeGuard.Internal;
using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard;

/// <summary>
/// The pipeline's decisions about the distributed tier (L2) and the backplane: what a run does with what the barrier
/// read finds (serve it, serve another node's stale value and refresh on, wait for another node's run, give up at
/// LockTimeout, compute), and how other nodes' messages are applied to L1 in version order. The talking (reads, waits,
/// writes, invalidations, envelopes, tag records, the store's clock) is <see cref="DistributedTier"/>'s.
/// </summary>
public sealed partial class StampedeCache
{
    private long _trustedUntil = long.MaxValue; // HitClock reading until which L1 copies may be served (a backplane's Alive)
    private long _aliveFor; // how long one Alive trusts them (ticks)

    /// <summary>
    /// Reads L2 through the barrier: one round trip that returns the value or takes the lock. If another node holds
    /// the lock, waits for its value (push, bounded by its lease and LockTimeout). Returns done=true when no factory
    /// run is needed here. Every read leaves the key's version and the store's clock on the flight (the tier keeps
    /// them there): the run's write is conditional on that version, and the run began at that instant on the clock
    /// invalidations are ordered by.
    /// <paramref name="batchKey"/> (a batch call's key) is told when the run waits for another node's.
    /// <paramref name="expectMiss"/>: the caller has just looked (a double check), so the read goes to the barrier's
    /// script at once instead of a plain read first.
    /// </summary>
    private async ValueTask<(CacheEntry<T>? Found, StampedeLease? Lease, bool Done)> ReadThroughBarrierAsync<T>(string key, StampedeCacheEntryOptions options, Flight<T> flight, IBatchKey? batchKey = null, bool expectMiss = false)
    {
        var useLock = _distributed.SupportsLocking && !options.SkipDistributedLock;
        var waitStarted = _time.GetTimestamp();
        var mode = useLock ? DistributedLockMode.AcquireIfNotFresh : DistributedLockMode.None;

        // A refresh judges freshness at the end of the value it replaces: that value must not satisfy it, and the
        // store must let it take the lock although the value is still fresh.
        var replacing = flight.IsBackground ? flight.Stale : null;
        var judgeAt = new DateTimeOffset(replacing is null ? Now() : Math.Max(Now(), replacing.Times.FreshUntil), TimeSpan.Zero);

        // Holding a copy that is no longer fresh (or refreshing one), this node expects no fresh value in the store
        // either: it asks for the store's clock at once (a run's origin) instead of a clockless fresh-value read first.
        // So does one whose recent reads through the barrier mostly missed (the tier's guess: the plain read would only
        // add a round trip before the script).
        var requireStamp = expectMiss || flight.Stale is not null || _distributed.ExpectsMiss;
        ValueTask<DistributedRead<T>> ReadOrAcquireAsync() => _distributed.ReadAsync<T>(
            key, new DistributedReadOptions { LockMode = mode, Now = replacing is null ? new DateTimeOffset(Now(), TimeSpan.Zero) : judgeAt, LeaseDuration = _options.DistributedLockLease, RequireStamp = requireStamp }, options, flight, learnClock: true, flight.Token);

        var guessed = !expectMiss && flight.Stale is null; // the read whose kind the tier's guess chose: it learns from it
        var read = await ReadOrAcquireAsync().ConfigureAwait(false);
        if (guessed && read.Outcome == DistributedOutcome.Done)
        {
            _distributed.NoteBarrierRead(read.Entry is { } first && read.At < first.Times.FreshUntil);
        }

        while (true)
        {
            var now = read.At; // when the reply arrived, before its entry was decoded
            var found = read.Entry;
            if (found is not null)
            {
                if (now < found.Times.KeepUntil && (flight.Stale is null || IsNewer(found, flight.Stale)))
                {
                    flight.Stale = found;
                    StoreLocallyForRun(flight, key, found, options);
                }

                if (now < found.Times.FreshUntil && (replacing is null || IsNewer(found, replacing)))
                {
                    return (found, read.Lease, true); // a lease taken anyway is released when the run ends
                }

                if (now < found.Times.StaleUntil && !flight.IsBackground)
                {
                    // Servable stale value from another node: answer the waiters now, refresh on in this flight.
                    flight.TrySetResult(found.Value);
                }
            }

            if (read.Stamp == 0 && read.Version != 0 && !requireStamp)
            {
                // The store answered a value it judged fresh without its clock, and yet this run goes on (its tags
                // were invalidated since, it does not decode, or it turned stale meanwhile): read again with the
                // clock, and the lock when asked, so the run has the origin and the barrier a full read gives.
                requireStamp = true;
                read = await ReadOrAcquireAsync().ConfigureAwait(false);
                continue;
            }

            if (read.Lease is not null || read.LockHeldFor is null)
            {
                return (null, read.Lease, false);
            }

            // Another node is computing. A background refresh leaves it to them (the backplane brings the value).
            if (flight.IsBackground || flight.IsAnswered)
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

            batchKey?.Waiting(); // a batch's key waits for another node's run: its batch need not wait for it
            var maxWait = read.LockHeldFor.Value + TimeSpan.FromMilliseconds(50);
            var arrived = await _distributed.WaitForValueAsync<T>(key, maxWait < left ? maxWait : left, options, flight.Token).ConfigureAwait(false);
            if (arrived is not null && Now() < arrived.Times.FreshUntil)
            {
                StoreLocallyForRun(flight, key, arrived, options);
                return (arrived, null, true);
            }

            read = await ReadOrAcquireAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether <paramref name="candidate"/> is a later state of the key than <paramref name="current"/>: by the store's versions where both have one.</summary>
    private static bool IsNewer(CacheEntry candidate, CacheEntry current) =>
        candidate.Version != 0 && current.Version != 0 ? candidate.Version > current.Version : candidate.Times.Created > current.Times.Created;

    /// <summary>Whether a call with <paramref name="options"/> reads and writes L2.</summary>
    private bool UsesL2(StampedeCacheEntryOptions options) => _distributed.HasStore && !options.SkipDistributedCache;

    /// <summary>
    /// Another node's change, applied in the key's version order: a message older than what this node already holds
    /// for the key changes nothing; a removal leaves a tombstone so a late message or read cannot bring the value back.
    /// </summary>
    private void OnBackplaneMessage(BackplaneMessage message)
    {
        if (message.Kind == BackplaneMessageKind.Alive)
        {
            // No message lost up to the heartbeat's sending: the copies may be served a while longer without hearing
            // the next one. The trust period is the longest an Alive gave (a late heartbeat gives less, down to none).
            Volatile.Write(ref _aliveFor, Math.Max(Volatile.Read(ref _aliveFor), message.Timestamp));
            Volatile.Write(ref _trustedUntil, message.Timestamp > 0 ? HitClockAfter(message.Timestamp) : long.MaxValue);
            return;
        }

        if (message.Kind == BackplaneMessageKind.Reset)
        {
            ResetLocal();
            if (message.Key == StampedeKeys.AllTag && _distributed.HasStore)
            {
                // The store lost or rolled back data: what it holds from before now may resurrect removed values.
                _ = InvalidateEverythingStoredAsync();
            }

            return;
        }

        if (_distributed.LocalKey(message.Key) is not { } key)
        {
            return; // another application sharing the channel.
        }

        try
        {
            // Another node's change supersedes this node's run of the key (or of the tag's keys): callers arriving
            // from now on start or join a new run instead of getting the older run's value.
            SupersedeOnMessage(message.Kind, key);
            var now = Now();
            switch (message.Kind)
            {
                case BackplaneMessageKind.Set when message.Envelope is { } envelope && Envelope.TryRead(envelope, out var times, out _, out _):
                    if (_local.Find(key, now) is CacheEntry current && (message.Version == 0 ? current.Times.Created >= times.Created : current.Version >= message.Version))
                    {
                        break;
                    }

                    _local.Store(key, new RawEnvelope(envelope) { Version = message.Version }, envelope.Length, Math.Max(times.KeepUntil, now + 1), now);
                    break;
                case BackplaneMessageKind.Set:
                case BackplaneMessageKind.Remove:
                    StoreTombstone(key, message.Version, now);
                    break;
                case BackplaneMessageKind.Expire:
                    ExpireLocal(key, message.Version);
                    break;
                case BackplaneMessageKind.RemoveByTag:
                    InvalidateTag(key, message.Timestamp > 0 ? message.Timestamp : _distributed.StampNow());
                    break;
            }
        }
        catch (Exception ex)
        {
            Log.BackplaneError(_logger, key, ex);
        }
    }

    private async Task InvalidateEverythingStoredAsync()
    {
        try
        {
            var result = await _distributed.InvalidateAsync(DistributedInvalidationKind.Tag, StampedeKeys.AllTag, BackplaneMessageKind.RemoveByTag, default, _disposing.Token).ConfigureAwait(false);
            InvalidateTag(StampedeKeys.AllTag, result.Stamp > 0 ? result.Stamp : _distributed.StampNow());
        }
        catch (Exception ex)
        {
            Log.DistributedError(_logger, "invalidate everything after a store rollback", StampedeKeys.AllTag, ex);
        }
    }

    private void SupersedeOnMessage(BackplaneMessageKind kind, string keyOrTag)
    {
        if (kind == BackplaneMessageKind.RemoveByTag)
        {
            _ = SupersedeTaggedRunsAsync(keyOrTag); // a store under way finishes; its result is versioned
        }
        else
        {
            _ = _flights.Supersede(keyOrTag);
            foreach (var (condition, _) in _conditions)
            {
                _ = condition.Change(keyOrTag); // its store's write is conditional in the store too: no wait here
            }
        }
    }

    /// <summary>Drops the key's local copy; with a version, remembers it for a while so older changes cannot bring the value back.</summary>
    private void StoreTombstone(string key, long version, long now)
    {
        if (version == 0)
        {
            _local.Remove(key);
            return;
        }

        _local.Store(key, new Tombstone { Version = version }, 0, now + Tombstone.LifetimeTicks, now);
    }

    /// <summary>
    /// The backplane's last word of life is too old (this process was paused, or its subscription went silent): drop the
    /// copies before serving any, then trust what is stored from now on for one more period (so a node that cannot
    /// hear Redis drops them once a period, never on every call).
    /// </summary>
    private void DistrustLocalIfSilent()
    {
        var expired = Volatile.Read(ref _trustedUntil);
        if (expired == long.MaxValue || HitClock() < expired)
        {
            return; // no backplane that vouches for itself, or it spoke recently: one field read, no clock read
        }

        var period = Volatile.Read(ref _aliveFor);
        if (Interlocked.CompareExchange(ref _trustedUntil, period > 0 ? HitClockAfter(period) : long.MaxValue, expired) == expired)
        {
            ResetLocal(); // once per period, whoever notices first
        }
    }

    /// <summary>Messages may have been lost, or the store lost its data: every local copy goes, tag records are read again.</summary>
    private void ResetLocal()
    {
        _distributed.ForgetTags();
        var count = _local.Count;
        _local.Clear();
        _metrics.LocalResets.Add(1);
        Log.LocalTierReset(_logger, count);
    }
}
