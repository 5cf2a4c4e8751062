using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Hybrid;
using StampedeGuard.Distributed;
using StampedeGuard.Internal;
using StampedeGuard.Serialization;
using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard;

/// <summary>
/// The distributed tier (L2) and the backplane: the barrier read, versioned and fenced writes, durable invalidations,
/// envelopes, other nodes' messages applied in version order, and the store's clock that orders invalidations.
/// </summary>
public sealed partial class StampedeCache
{
    /// <summary>How often an invalidation is tried before it throws: a store that could not be asked may not have applied it.</summary>
    private const int InvalidationAttempts = 3;

    private static readonly TimeSpan InvalidationRetryDelay = TimeSpan.FromMilliseconds(50);

    /// <summary>Tags whose store record this node has read since the backplane last reset it (then messages keep it current).</summary>
    private readonly ConcurrentDictionary<string, byte> _knownTags = new(StringComparer.Ordinal);
    private long _tagKnowledgeEpoch;
    private bool _clearAllKnown;
    private long _stampOffset; // the store's clock minus the engine's, learned from the store's replies
    private bool _stampLearned;
    private long _stampLearnedAt; // engine ticks of the last reply that carried the store's clock
    private bool _storeHasNoClock; // its reads answer without a clock (an IDistributedCache): nothing to learn, ever
    private long _trustedUntil = long.MaxValue; // HitClock reading until which L1 copies may be served (a backplane's Alive)
    private long _aliveFor; // how long one Alive trusts them (ticks)

    /// <summary>
    /// Reads L2 through the barrier: one round trip that returns the value or takes the lock. If another node holds
    /// the lock, waits for its value (push, bounded by its lease and LockTimeout). Returns done=true when no factory
    /// run is needed here. Every read leaves the key's version and the store's clock on the flight: the run's write is
    /// conditional on that version, and the run began at that instant on the clock invalidations are ordered by.
    /// <paramref name="batchKey"/> (a batch call's key) is told when the run waits for another node's.
    /// </summary>
    private async ValueTask<(CacheEntry<T>? Found, StampedeLease? Lease, bool Done)> ReadThroughBarrierAsync<T>(string key, StampedeCacheEntryOptions options, Flight<T> flight, IBatchKey? batchKey = null)
    {
        var useLock = _l2!.SupportsLocking && !options.SkipDistributedLock;
        var waitStarted = _time.GetTimestamp();
        var mode = useLock ? DistributedLockMode.AcquireIfNotFresh : DistributedLockMode.None;

        // A refresh judges freshness at the end of the value it replaces: that value must not satisfy it, and the
        // store must let it take the lock although the value is still fresh.
        var replacing = flight.IsBackground ? flight.Stale : null;
        var judgeAt = new DateTimeOffset(replacing is null ? Now() : Math.Max(Now(), replacing.Times.FreshUntil), TimeSpan.Zero);

        // Holding a copy that is no longer fresh (or refreshing one), this node expects no fresh value in the store
        // either: it asks for the store's clock at once (a run's origin) instead of a clockless fresh-value read first.
        var requireStamp = flight.Stale is not null;
        ValueTask<DistributedReadResult> ReadOrAcquireAsync() => SafeL2Async(key, "read", (store, k, t) =>
            store.ReadAsync(k, new DistributedReadOptions { LockMode = mode, Now = replacing is null ? new DateTimeOffset(Now(), TimeSpan.Zero) : judgeAt, LeaseDuration = _options.DistributedLockLease, RequireStamp = requireStamp }, t), flight.Token);

        var read = await ReadOrAcquireAsync().ConfigureAwait(false);
        while (true)
        {
            NoteRead(flight, read);
            var now = Now();
            var found = await DecodeReadAsync<T>(key, read, options).ConfigureAwait(false);
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
            var waitedRead = await SafeL2Async(key, "wait", (store, k, t) => store.WaitForValueAsync(k, maxWait < left ? maxWait : left, t), flight.Token).ConfigureAwait(false);
            var arrived = await DecodeReadAsync<T>(key, waitedRead, options).ConfigureAwait(false);
            if (arrived is not null && Now() < arrived.Times.FreshUntil)
            {
                StoreLocallyForRun(flight, key, arrived, options);
                return (arrived, null, true);
            }

            read = await ReadOrAcquireAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Keeps a read's version and clock on the run: what its write is conditional on, and when it began.</summary>
    private void NoteRead(Flight flight, in DistributedReadResult read)
    {
        flight.ReadDistributed = read.Outcome == DistributedOutcome.Done;
        flight.ReadVersion = read.Version;
        flight.ReadStamp = read.Stamp > 0 ? read.Stamp : StampNow();
        LearnStamp(read.Stamp);
    }

    /// <summary>Whether <paramref name="candidate"/> is a later state of the key than <paramref name="current"/>: by the store's versions where both have one.</summary>
    private static bool IsNewer(CacheEntry candidate, CacheEntry current) =>
        candidate.Version != 0 && current.Version != 0 ? candidate.Version > current.Version : candidate.Times.Created > current.Times.Created;

    private bool UsesL2(StampedeCacheEntryOptions options) => _l2 is not null && !options.SkipDistributedCache;

    private string DistributedKey(string key) => _prefix.Length == 0 ? key : _prefix + key;

    private IHybridCacheSerializer<T> Serializer<T>() =>
        (IHybridCacheSerializer<T>)_serializers.GetOrAdd(typeof(T), static (_, factory) =>
            factory.TryCreateSerializer<T>(out var serializer) ? serializer : throw new InvalidOperationException(JsonStampedeSerializerFactory.NoSerializerMessage(typeof(T))), _serializerFactory);

    /// <summary>The engine's time on the clock invalidations are ordered by (the store's, where it has one).</summary>
    private long StampNow() => Now() + Volatile.Read(ref _stampOffset);

    /// <summary>Learns the store's clock from a reply: invalidations and run origins are then comparable across nodes.</summary>
    private void LearnStamp(long storeStamp)
    {
        if (storeStamp > 0)
        {
            var now = Now();
            Volatile.Write(ref _stampOffset, storeStamp - now);
            Volatile.Write(ref _stampLearnedAt, now);
            Volatile.Write(ref _stampLearned, true);
        }
    }

    /// <summary>
    /// Learns the store's clock with one read unless it was learned less than <paramref name="maxAge"/> ticks ago: before
    /// this node stamps an origin of its own (an explicit set: learned once) or begins a write condition (learned within
    /// a second), so a node whose clock is off never stamps a value into the future of other nodes' invalidations. A
    /// store that answers without a clock (an IDistributedCache) has nothing to learn, ever.
    /// </summary>
    private async ValueTask LearnStoreClockAsync(string key, long maxAge, CancellationToken cancellationToken)
    {
        if (_l2 is null || Volatile.Read(ref _storeHasNoClock) || (Volatile.Read(ref _stampLearned) && Now() - Volatile.Read(ref _stampLearnedAt) <= maxAge))
        {
            return;
        }

        var read = await SafeL2Async(key, "read", static (store, k, t) => store.ReadAsync(k, new DistributedReadOptions { RequireStamp = true }, t), cancellationToken).ConfigureAwait(false);
        LearnStamp(read.Stamp);
        if (read.Outcome == DistributedOutcome.Done && read.Stamp == 0)
        {
            Volatile.Write(ref _storeHasNoClock, true);
            Volatile.Write(ref _stampLearned, true);
        }
    }

    /// <summary>
    /// A run's value written to L2: conditional on the version its read returned (an invalidation or another write
    /// since then wins), fenced by the run's lease if any; the store tells other nodes in the same step. An
    /// entry that is not written (L2 skipped, payload too large, not serializable) still tells them to drop their
    /// older copy.
    /// </summary>
    private ValueTask<WriteOutcome> WriteRunAsync<T>(string key, CacheEntry<T> entry, StampedeCacheEntryOptions options, Flight<T> flight) =>
        _l2 is null && _backplane is null
            ? new ValueTask<WriteOutcome>(WriteOutcome.Skipped) // a local-only cache: nothing to write, nobody to tell
            : WriteDistributedCoreAsync(key, entry, options, flight.Lease, flight.ReadDistributed ? flight.ReadVersion : null, flight.ReadStamp, conditional: true, CancellationToken.None, RunStartStamp(flight));

    /// <summary>
    /// For a run that could not read the store: when it began on the store's clock (the engine's clock plus the learned
    /// offset, less a margin for that offset's error), so its write is refused if the key changed since; 0 (no
    /// write) while this node has not learned the store's clock.
    /// </summary>
    private long RunStartStamp(Flight flight) =>
        flight.ReadDistributed || !Volatile.Read(ref _stampLearned) || _l2 is null
            ? 0
            : flight.StartedAt + Volatile.Read(ref _stampOffset) - StampMargin;

    /// <summary>The tag records a run's conditional write is checked against: its tags and "*", as the store names them.</summary>
    private string[] ConditionTags(string[]? tags)
    {
        var names = new string[(tags?.Length ?? 0) + 1];
        names[0] = DistributedKey(StampedeKeys.AllTag);
        for (var i = 1; i < names.Length; i++)
        {
            names[i] = DistributedKey(tags![i - 1]);
        }

        return names;
    }

    /// <summary>How far the learned store clock may be off (a round trip): a run's start is judged this much earlier.</summary>
    private static readonly long StampMargin = TimeSpan.FromMilliseconds(50).Ticks;

    private async ValueTask<WriteOutcome> WriteDistributedCoreAsync<T>(string key, CacheEntry<T> entry, StampedeCacheEntryOptions options, StampedeLease? lease, long? expectedVersion, long readStamp, bool conditional, CancellationToken cancellationToken, long unchangedSince = 0)
    {
        var envelope = UsesL2(options) ? SerializeEnvelope(key, entry) : null;
        if (envelope is null)
        {
            await PublishAsync(new BackplaneMessage { Kind = BackplaneMessageKind.Remove, Key = key, Timestamp = StampNow() }, invalidation: !conditional, cancellationToken).ConfigureAwait(false);

            return WriteOutcome.Skipped;
        }

        if (conditional && expectedVersion is null && unchangedSince <= 0)
        {
            // The run never read the store (it was unreachable) and this node does not know the store's clock yet:
            // an unconditional write could undo an invalidation. The value stays local.
            return WriteOutcome.Skipped;
        }

        var now = Now();
        var ttl = EntryTimes.Lifetime(Math.Max(entry.Times.KeepUntil, now + TimeSpan.TicksPerMillisecond), now);
        var writeOptions = new DistributedWriteOptions
        {
            TimeToLive = ttl,
            FreshUntil = new DateTimeOffset(entry.Times.FreshUntil, TimeSpan.Zero),
            ExpectedVersion = expectedVersion,
            ReadStamp = readStamp,
            UnchangedSince = expectedVersion is null ? unchangedSince : 0,
            Tags = conditional ? ConditionTags(entry.Tags) : null,
            Lease = lease,
            Notify = true,
        };
        var attempts = conditional ? 1 : InvalidationAttempts;
        for (var attempt = 1; ; attempt++)
        {
            Exception? failure = null;
            DistributedWriteResult result = default;
            try
            {
                result = await _l2!.WriteAsync(DistributedKey(key), envelope, writeOptions, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                failure = ex;
                _metrics.DistributedErrors.Add(1);
                if (conditional)
                {
                    if (_options.ThrowOnDistributedCacheErrors)
                    {
                        throw;
                    }

                    Log.DistributedError(_logger, "write", key, ex);
                }
            }

            if (failure is null && result.Outcome != DistributedOutcome.Unavailable)
            {
                if (result.Outcome == DistributedOutcome.Done && !result.Notified)
                {
                    var message = new BackplaneMessage { Kind = BackplaneMessageKind.Set, Key = key, Envelope = envelope.Length <= 64 * 1024 ? envelope : null, Version = result.Version, Timestamp = StampNow() };
                    await PublishAsync(message, invalidation: !conditional, cancellationToken).ConfigureAwait(false);
                }

                return new WriteOutcome(result.Outcome, result.Version);
            }

            if (conditional)
            {
                return WriteOutcome.Unavailable;
            }

            Log.InvalidationNotConfirmed(_logger, "Set", key, attempt, attempts, failure);
            if (attempt >= attempts)
            {
                throw new StampedeInvalidationException($"Setting key '{key}' could not be confirmed by the distributed tier; it may not have applied there, and other nodes may not have been told.", failure ?? new TimeoutException("The distributed tier could not be asked."));
            }

            await Task.Delay(InvalidationRetryDelay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// An explicit invalidation in the distributed tier, tried up to <see cref="InvalidationAttempts"/> times: it never
    /// reports success unless the store confirmed it, and throws <see cref="StampedeInvalidationException"/> when it may
    /// not have applied. The store tells other nodes in the same step where it can; else the backplane does.
    /// </summary>
    private async ValueTask<DistributedInvalidationResult> InvalidateDistributedAsync(DistributedInvalidationKind kind, string key, BackplaneMessageKind messageKind, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        var stamp = StampNow();
        if (_l2 is null)
        {
            await PublishInvalidationAsync(new BackplaneMessage { Kind = messageKind, Key = key, Timestamp = stamp }, cancellationToken).ConfigureAwait(false);
            return new DistributedInvalidationResult { Outcome = DistributedOutcome.Done, Stamp = stamp };
        }

        var invalidation = new DistributedInvalidation { Kind = kind, Key = DistributedKey(key), Notify = true, Timestamp = stamp, TimeToLive = timeToLive };
        for (var attempt = 1; ; attempt++)
        {
            Exception? failure = null;
            try
            {
                var result = await _l2.InvalidateAsync(invalidation, cancellationToken).ConfigureAwait(false);
                if (result.Outcome == DistributedOutcome.Done)
                {
                    LearnStamp(result.Stamp);
                    if (!result.Notified)
                    {
                        await PublishInvalidationAsync(new BackplaneMessage { Kind = messageKind, Key = key, Version = result.Version, Timestamp = result.Stamp > 0 ? result.Stamp : stamp }, cancellationToken).ConfigureAwait(false);
                    }

                    return result;
                }
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                failure = ex;
            }

            _metrics.DistributedErrors.Add(1);
            Log.InvalidationNotConfirmed(_logger, messageKind.ToString(), key, attempt, InvalidationAttempts, failure);
            if (attempt >= InvalidationAttempts)
            {
                throw new StampedeInvalidationException($"{messageKind} of '{key}' could not be confirmed by the distributed tier; it may not have applied there, and other nodes may not have been told.", failure ?? new TimeoutException("The distributed tier could not be asked."));
            }

            await Task.Delay(InvalidationRetryDelay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The entry's envelope, or null (logged) when the payload is over MaximumPayloadBytes or cannot be serialized.</summary>
    private byte[]? SerializeEnvelope<T>(string key, CacheEntry<T> entry)
    {
        try
        {
            if (entry.Value is null)
            {
                entry.PayloadBytes = 0;
                return Envelope.Write(entry.Times, entry.Origin, entry.Tags, default, Envelope.NullValue);
            }

            var buffer = new ArrayBufferWriter<byte>();
            Serializer<T>().Serialize(entry.Value, buffer);
            entry.PayloadBytes = buffer.WrittenCount;
            if (buffer.WrittenCount > _options.MaximumPayloadBytes)
            {
                Log.PayloadTooLarge(_logger, key, buffer.WrittenCount, _options.MaximumPayloadBytes);
                return null;
            }

            if (_options.DistributedCompression != StampedeCompression.None && buffer.WrittenCount >= _options.DistributedCompressionThreshold
                && PayloadCompression.TryCompress(_options.DistributedCompression, _options.DistributedCompressionLevel, buffer.WrittenSpan) is { } compressed)
            {
                return Envelope.Write(entry.Times, entry.Origin, entry.Tags, compressed, Envelope.CodecFlags(_options.DistributedCompression));
            }

            return Envelope.Write(entry.Times, entry.Origin, entry.Tags, buffer.WrittenSpan);
        }
        catch (Exception ex) when (!_options.ThrowOnDistributedCacheErrors)
        {
            _metrics.DistributedErrors.Add(1);
            Log.DistributedError(_logger, "serialize", key, ex);
            return null;
        }
    }

    /// <summary>
    /// The entry a read returned, as this node may use it: marked stale if it was expired, carrying the key's version,
    /// and null if an invalidation of one of its tags (or of everything) came after its run began: the tags' records
    /// are read from the store the first time this node meets them (then the backplane keeps them current).
    /// </summary>
    private async ValueTask<CacheEntry<T>?> DecodeReadAsync<T>(string key, DistributedReadResult read, StampedeCacheEntryOptions options)
    {
        if (read.Envelope is null)
        {
            return null;
        }

        var entry = Decode<T>(key, read.Envelope, options, read.Version, read.Expired);
        if (entry is not null && await EnsureTagsKnownAsync(entry.Tags).ConfigureAwait(false) && IsInvalidated(entry))
        {
            return null;
        }

        return entry;
    }

    /// <summary>Reads the store's records of tags (and of "*") this node does not know yet; true when it learned something.</summary>
    private async ValueTask<bool> EnsureTagsKnownAsync(string[]? tags)
    {
        var remember = _backplane is not null;
        var askAll = !remember || !Volatile.Read(ref _clearAllKnown);
        List<string>? ask = askAll ? [StampedeKeys.AllTag] : null;
        if (tags is not null)
        {
            foreach (var tag in tags)
            {
                if (!remember || !_knownTags.ContainsKey(tag))
                {
                    (ask ??= []).Add(tag);
                }
            }
        }

        if (ask is null)
        {
            return false;
        }

        var epoch = Volatile.Read(ref _tagKnowledgeEpoch);
        var prefixed = ask.ConvertAll(DistributedKey);
        var read = await SafeL2Async(StampedeKeys.AllTag, "read tags", (store, _, t) => store.ReadTagInvalidationsAsync(prefixed, t), CancellationToken.None).ConfigureAwait(false);
        if (read.Outcome != DistributedOutcome.Done || read.Stamps is not { } stamps || stamps.Count != ask.Count)
        {
            return false;
        }

        var learned = false;
        for (var i = 0; i < ask.Count; i++)
        {
            if (stamps[i] > 0)
            {
                InvalidateTag(ask[i], stamps[i]);
                learned = true;
            }
        }

        if (remember && Volatile.Read(ref _tagKnowledgeEpoch) == epoch)
        {
            foreach (var tag in ask)
            {
                if (tag == StampedeKeys.AllTag)
                {
                    Volatile.Write(ref _clearAllKnown, true);
                }
                else if (_knownTags.Count < MaximumKnownTags)
                {
                    _knownTags.TryAdd(tag, 0);
                }
            }
        }

        return learned || tags is not null || askAll;
    }

    private const int MaximumKnownTags = 100_000;

    private CacheEntry<T>? Decode<T>(string key, byte[] envelope, StampedeCacheEntryOptions options, long version, bool expired)
    {
        try
        {
            if (!Envelope.TryRead(envelope, out var times, out var origin, out var tags, out var payload, out var flags))
            {
                _metrics.DistributedErrors.Add(1);
                Log.CorruptEnvelope(_logger, key, null);
                return null;
            }

            if (expired)
            {
                times = times.MarkedStale();
            }

            if (tags is not null)
            {
                _invalidations.NoteTaggedEntry(times);
            }

            if (Envelope.Codec(flags) is var codec and not StampedeCompression.None)
            {
                payload = PayloadCompression.Decompress(codec, payload, _options.MaximumPayloadBytes); // corrupt or too large: throws, a miss below
            }

            var value = (flags & Envelope.NullValue) != 0 ? default! : Serializer<T>().Deserialize(new ReadOnlySequence<byte>(payload));
            var entry = new CacheEntry<T>(value, null, times, tags, CacheEntry.ComputeRefreshCheckAt(times, times.FactoryTicks, options.EarlyRefresh, options.EarlyRefreshBeta), options.EarlyRefresh, options.EarlyRefreshBeta)
            {
                PayloadBytes = payload.Length,
                Origin = origin,
            };
            entry.Version = version;
            return IsInvalidated(entry) ? null : entry;
        }
        catch (Exception ex)
        {
            _metrics.DistributedErrors.Add(1);
            Log.CorruptEnvelope(_logger, key, ex);
            return null;
        }
    }

    /// <summary>A store call whose failure is answered as "nothing there" (logged, counted) unless ThrowOnDistributedCacheErrors.</summary>
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

    /// <summary>Tells other nodes: an invalidation must reach them (retried, throws), a run's write is best effort.</summary>
    private ValueTask PublishAsync(BackplaneMessage message, bool invalidation, CancellationToken cancellationToken) =>
        invalidation ? PublishInvalidationAsync(message, cancellationToken) : PublishAsync(message, cancellationToken);

    /// <summary>Tells other nodes about a run's write, best effort (their copies end anyway; the store has the value).</summary>
    private async ValueTask PublishAsync(BackplaneMessage message, CancellationToken cancellationToken)
    {
        if (_backplane is null)
        {
            return;
        }

        try
        {
            await _backplane.PublishAsync(WithDistributedKey(message), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!_options.ThrowOnDistributedCacheErrors)
        {
            _metrics.DistributedErrors.Add(1);
            Log.DistributedError(_logger, "publish", message.Key, ex);
        }
    }

    /// <summary>Tells other nodes about an invalidation: retried, and it throws when it could not be sent.</summary>
    private async ValueTask PublishInvalidationAsync(BackplaneMessage message, CancellationToken cancellationToken)
    {
        if (_backplane is null)
        {
            return;
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _backplane.PublishAsync(WithDistributedKey(message), cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                _metrics.DistributedErrors.Add(1);
                Log.InvalidationNotConfirmed(_logger, message.Kind.ToString(), message.Key, attempt, InvalidationAttempts, ex);
                if (attempt >= InvalidationAttempts)
                {
                    throw new StampedeInvalidationException($"{message.Kind} of '{message.Key}' could not be sent to other nodes.", ex);
                }
            }

            await Task.Delay(InvalidationRetryDelay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private BackplaneMessage WithDistributedKey(BackplaneMessage message) =>
        _prefix.Length == 0 ? message : new BackplaneMessage { Kind = message.Kind, Key = DistributedKey(message.Key), Envelope = message.Envelope, Version = message.Version, Timestamp = message.Timestamp };

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
            if (message.Key == StampedeKeys.AllTag && _l2 is not null)
            {
                // The store lost or rolled back data: what it holds from before now may resurrect removed values.
                _ = InvalidateEverythingStoredAsync();
            }

            return;
        }

        if (!message.Key.StartsWith(_prefix, StringComparison.Ordinal))
        {
            return; // another application sharing the channel.
        }

        var key = message.Key[_prefix.Length..];
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
                    InvalidateTag(key, message.Timestamp > 0 ? message.Timestamp : StampNow());
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
            var result = await InvalidateDistributedAsync(DistributedInvalidationKind.Tag, StampedeKeys.AllTag, BackplaneMessageKind.RemoveByTag, default, _disposing.Token).ConfigureAwait(false);
            InvalidateTag(StampedeKeys.AllTag, result.Stamp > 0 ? result.Stamp : StampNow());
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
        Interlocked.Increment(ref _tagKnowledgeEpoch);
        Volatile.Write(ref _clearAllKnown, false);
        _knownTags.Clear();
        var count = _local.Count;
        _local.Clear();
        _metrics.LocalResets.Add(1);
        Log.LocalTierReset(_logger, count);
    }

    /// <summary>How a run's write to the distributed tier ended, and the key's version after it.</summary>
    private readonly record struct WriteOutcome(DistributedOutcome Outcome, long Version, bool WasSkipped = false)
    {
        public static WriteOutcome Skipped => new(DistributedOutcome.Done, 0, WasSkipped: true);

        public static WriteOutcome Unavailable => new(DistributedOutcome.Unavailable, 0);
    }
}
