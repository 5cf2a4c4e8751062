using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Logging;
using StampedeGuard.Distributed;
using StampedeGuard.Serialization;

namespace StampedeGuard.Internal;

/// <summary>
/// The distributed tier (L2) and the backplane as the engine talks to them: reads (plain, or read-or-acquire through
/// the barrier), the wait for another node's value, versioned and fenced writes, invalidations and what other nodes
/// are told (retried where they must arrive), envelopes, the tag records read from the store, and the store's clock
/// learned from its replies. Every store call is bounded by the tier's failure handling: a failure is answered as
/// unavailable, so nothing is learned from it (logged, counted), unless ThrowOnDistributedCacheErrors, and an
/// invalidation throws unless confirmed.
/// The engine decides what to do with what it reads (serve, wait, give up, compute); this type only asks and answers.
/// Without a store or a backplane it still keeps the engine's clock as the stamp clock and decodes envelopes.
/// This file holds its state, the clock, reads, waits, envelopes decoded and tag records; DistributedTier.Writes.cs its
/// writes, invalidations, messages and releases.
/// </summary>
internal sealed partial class DistributedTier
{
    private const int MaximumKnownTags = 100_000;

    private readonly StampedeCacheOptions _options;
    private readonly IStampedeDistributedStore? _store;
    private readonly IStampedeBackplane? _backplane;
    private readonly string _prefix;
    private readonly Func<long> _now;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly StampedeMetrics _metrics;
    private readonly Invalidations _invalidations;
    private readonly Func<long> _oldestRunStart;
    private readonly IHybridCacheSerializerFactory _serializerFactory;
    private readonly ConcurrentDictionary<Type, object> _serializers = new();

    /// <summary>Tags whose store record this node has read since the backplane last reset it (then messages keep it current).</summary>
    private readonly ConcurrentDictionary<string, byte> _knownTags = new(StringComparer.Ordinal);
    private long _tagKnowledgeEpoch;
    private bool _clearAllKnown;
    private long _stampOffset; // the store's clock minus the engine's, learned from the store's replies
    private bool _stampLearned;
    private long _stampLearnedAt; // engine ticks of the last reply that carried the store's clock
    private bool _storeHasNoClock; // its reads answer without a clock (an IDistributedCache): nothing to learn, ever
    private TaskCompletionSource<bool>? _clearAllRead; // the "*" record's read under way, shared (ReadClearAllOnceAsync)
    private int _missRate = MissRateOne; // see ExpectsMiss: the recent share of reads through the barrier that missed, in 1/65536

    private const int MissRateOne = 1 << 16;

    /// <summary>Each read moves <see cref="ExpectsMiss"/>'s rate 1/32 of the way to what it found: about 22 reads of one kind in a row change its mind.</summary>
    private const int MissRateShift = 5;

    /// <summary>Creates the tier over <paramref name="store"/> and <paramref name="backplane"/>, either or both of which may be absent.</summary>
    /// <param name="options">The cache's options (key prefix, payload limits, compression, serializers, error handling, lease).</param>
    /// <param name="store">The distributed store and barrier, if any.</param>
    /// <param name="backplane">The backplane, if any.</param>
    /// <param name="now">The engine's clock (ticks).</param>
    /// <param name="time">Times the retries of invalidations.</param>
    /// <param name="logger">The engine's logger.</param>
    /// <param name="metrics">The engine's instruments.</param>
    /// <param name="invalidations">The node's tag invalidations: decoded entries are checked against them, tag records read from the store go into them.</param>
    /// <param name="oldestRunStart">When the oldest run still going started (tag invalidations since then are kept).</param>
    public DistributedTier(StampedeCacheOptions options, IStampedeDistributedStore? store, IStampedeBackplane? backplane, Func<long> now, TimeProvider time, ILogger logger, StampedeMetrics metrics, Invalidations invalidations, Func<long> oldestRunStart)
    {
        _options = options;
        _store = store;
        _backplane = backplane;
        _prefix = options.KeyPrefix;
        _now = now;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _invalidations = invalidations;
        _oldestRunStart = oldestRunStart;
        _serializerFactory = options.SerializerFactory ?? new JsonStampedeSerializerFactory();
    }

    /// <summary>Gets whether there is a store (L2) to read and write.</summary>
    public bool HasStore => _store is not null;

    /// <summary>
    /// Gets whether a read through the barrier should go to the barrier's script at once: most recent such reads found
    /// nothing fresh in the store (a node just started, keys that expire everywhere at once), so the plain read that
    /// answers a fresh value without a script would only add a round trip before the script. Once fresh values
    /// dominate (an L2 hit: a value there, not in L1), reads start with the plain read again (no script per hit).
    /// Both are one round trip for what they are best at; the score only chooses which. It starts expecting misses: a
    /// node that has just started knows nothing of the store, and a script answers a hit in one round trip too.
    /// </summary>
    public bool ExpectsMiss => Volatile.Read(ref _missRate) > MissRateOne / 2;

    /// <summary>Tells <see cref="ExpectsMiss"/> what a read through the barrier found (approximate under races: a hint, not a count).</summary>
    /// <param name="fresh">Whether the store held a fresh value.</param>
    public void NoteBarrierRead(bool fresh)
    {
        var rate = Volatile.Read(ref _missRate);
        Volatile.Write(ref _missRate, rate + (((fresh ? 0 : MissRateOne) - rate) >> MissRateShift));
    }

    /// <summary>Gets whether there is a store or a backplane: writes and invalidations then reach other nodes.</summary>
    public bool IsShared => _store is not null || _backplane is not null;

    /// <summary>Gets whether the store has a barrier (read-or-acquire, fenced writes).</summary>
    public bool SupportsLocking => _store!.SupportsLocking;

    /// <summary>Gets the store's clock minus the engine's, as learned (0 before anything was learned, or without a store clock).</summary>
    public long StampOffset => Volatile.Read(ref _stampOffset);

    /// <summary>Gets whether this node knows the store's clock: there is a store and a reply carried its clock (or it has none).</summary>
    public bool KnowsStoreClock => _store is not null && Volatile.Read(ref _stampLearned);

    /// <summary>Subscribes <paramref name="handler"/> to other nodes' messages; null without a backplane.</summary>
    /// <param name="handler">Called for every message, with the key as the store names it (see <see cref="LocalKey"/>).</param>
    /// <returns>The subscription, or null.</returns>
    public IDisposable? Subscribe(Action<BackplaneMessage> handler) => _backplane?.Subscribe(handler);

    /// <summary>The engine's key of a key as the store names it; null if it belongs to another application (another prefix).</summary>
    /// <param name="distributedKey">The key as a message carries it.</param>
    /// <returns>The key without this cache's prefix, or null.</returns>
    public string? LocalKey(string distributedKey) =>
        distributedKey.StartsWith(_prefix, StringComparison.Ordinal) ? distributedKey[_prefix.Length..] : null;

    /// <summary>The engine's time on the clock invalidations are ordered by (the store's, where it has one).</summary>
    /// <returns>Ticks on the store's clock.</returns>
    public long StampNow() => _now() + Volatile.Read(ref _stampOffset);

    /// <summary>Learns the store's clock from a reply: invalidations and run origins are then comparable across nodes.</summary>
    /// <param name="storeStamp">The clock the reply carried; 0 when it carried none (nothing learned).</param>
    public void LearnStamp(long storeStamp)
    {
        if (storeStamp > 0)
        {
            var now = _now();
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
    /// <param name="key">The key the read asks about (any key: only the clock matters).</param>
    /// <param name="maxAge">How old (ticks) the learned clock may be.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>A task that completes when the clock is known (or could not be learned).</returns>
    public async ValueTask LearnStoreClockAsync(string key, long maxAge, CancellationToken cancellationToken)
    {
        if (_store is null || Volatile.Read(ref _storeHasNoClock) || (Volatile.Read(ref _stampLearned) && _now() - Volatile.Read(ref _stampLearnedAt) <= maxAge))
        {
            return;
        }

        var read = await SafeAsync(key, "read", static (store, k, t) => store.ReadAsync(k, new DistributedReadOptions { RequireStamp = true }, t), Unavailable, cancellationToken).ConfigureAwait(false);
        LearnStamp(read.Stamp);
        if (read.Outcome == DistributedOutcome.Done && read.Stamp == 0)
        {
            Volatile.Write(ref _storeHasNoClock, true);
            Volatile.Write(ref _stampLearned, true);
        }
    }

    /// <summary>
    /// Reads the key from the store: a plain read, or with <see cref="DistributedReadOptions.LockMode"/> the barrier's
    /// read-or-acquire (one round trip that returns the value or takes the lock). Unless <paramref name="learnClock"/> is
    /// false, the store's clock is learned from the reply; with <paramref name="run"/>, the read's version and clock are
    /// kept on the run (what its write is conditional on, and when it began) before the entry is decoded.
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="readOptions">What the store is asked.</param>
    /// <param name="options">The entry options the value is decoded for.</param>
    /// <param name="run">The run the read begins, if any.</param>
    /// <param name="learnClock">Whether to learn the store's clock from the reply.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What the read found.</returns>
    public async ValueTask<DistributedRead<T>> ReadAsync<T>(string key, DistributedReadOptions readOptions, StampedeCacheEntryOptions options, Flight? run, bool learnClock, CancellationToken cancellationToken)
    {
        DistributedReadResult read;
        try
        {
            read = await _store!.ReadAsync(DistributedKey(key), readOptions, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Tolerated(ex, cancellationToken))
        {
            Failed(ex, "read", key);
            read = Unavailable; // as a store that answers its own failures says it
        }

        if (run is not null)
        {
            run.ReadDistributed = read.Outcome == DistributedOutcome.Done;
            run.ReadVersion = read.Version;
            run.ReadStamp = read.Stamp > 0 ? read.Stamp : StampNow();
        }

        if (learnClock)
        {
            LearnStamp(read.Stamp);
        }

        var at = _now();
        var entry = await DecodeReadAsync<T>(key, read, options).ConfigureAwait(false);
        return new DistributedRead<T>(read.Outcome, entry, read.Version, read.Stamp, read.Lease, read.LockHeldFor, at);
    }

    /// <summary>Waits (at most <paramref name="maxWait"/>) for the value of another node's run of the key: its push, or the store's value.</summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="maxWait">The longest wait.</param>
    /// <param name="options">The entry options the value is decoded for.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The entry that arrived, decoded; null if none did (or none this node may serve).</returns>
    public async ValueTask<CacheEntry<T>?> WaitForValueAsync<T>(string key, TimeSpan maxWait, StampedeCacheEntryOptions options, CancellationToken cancellationToken)
    {
        DistributedReadResult read;
        try
        {
            read = await _store!.WaitForValueAsync(DistributedKey(key), maxWait, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Tolerated(ex, cancellationToken))
        {
            Failed(ex, "wait", key);
            read = Unavailable;
        }

        return await DecodeReadAsync<T>(key, read, options).ConfigureAwait(false);
    }

    /// <summary>Forgets which tag records were read: they are read from the store again (messages may have been lost).</summary>
    public void ForgetTags()
    {
        Interlocked.Increment(ref _tagKnowledgeEpoch);
        Volatile.Write(ref _clearAllKnown, false);
        _knownTags.Clear();
    }

    /// <summary>
    /// The entry an envelope holds, as this node may use it: marked stale if <paramref name="expired"/>, carrying
    /// <paramref name="version"/>; null (logged, counted) if it does not decode, and null if an invalidation this node
    /// knows of came after its run began.
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key (for the log).</param>
    /// <param name="envelope">The envelope.</param>
    /// <param name="options">The entry options the entry is made for (its early refresh).</param>
    /// <param name="version">The key's version the envelope was read at.</param>
    /// <param name="expired">Whether the store had expired the value.</param>
    /// <returns>The entry, or null.</returns>
    public CacheEntry<T>? Decode<T>(string key, byte[] envelope, StampedeCacheEntryOptions options, long version, bool expired)
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
            return _invalidations.IsInvalidated(entry) ? null : entry;
        }
        catch (Exception ex)
        {
            _metrics.DistributedErrors.Add(1);
            Log.CorruptEnvelope(_logger, key, ex);
            return null;
        }
    }

    private string DistributedKey(string key) => _prefix.Length == 0 ? key : _prefix + key;

    private IHybridCacheSerializer<T> Serializer<T>() =>
        (IHybridCacheSerializer<T>)_serializers.GetOrAdd(typeof(T), static (_, factory) =>
            factory.TryCreateSerializer<T>(out var serializer) ? serializer : throw new InvalidOperationException(JsonStampedeSerializerFactory.NoSerializerMessage(typeof(T))), _serializerFactory);

    /// <summary>
    /// The entry a read returned, as this node may use it (see <see cref="Decode{T}"/>), and null if an invalidation
    /// of one of its tags (or of everything) came after its run began: the tags' records are read from the store the
    /// first time this node meets them (then the backplane keeps them current).
    /// </summary>
    private async ValueTask<CacheEntry<T>?> DecodeReadAsync<T>(string key, DistributedReadResult read, StampedeCacheEntryOptions options)
    {
        if (read.Envelope is null)
        {
            return null;
        }

        var entry = Decode<T>(key, read.Envelope, options, read.Version, read.Expired);
        if (entry is not null && await EnsureTagsKnownAsync(entry.Tags).ConfigureAwait(false) && _invalidations.IsInvalidated(entry))
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

        if (remember && ask.Count == 1 && askAll)
        {
            return await ReadClearAllOnceAsync().ConfigureAwait(false);
        }

        return await ReadTagRecordsAsync(ask, remember, askAll || tags is not null).ConfigureAwait(false);
    }

    /// <summary>
    /// The node's first read of the store's "clear everything" record, shared: reads decoded together (a batch's keys,
    /// concurrent callers on a node that has just started or reset) wait for one read instead of sending one each.
    /// </summary>
    private Task<bool> ReadClearAllOnceAsync()
    {
        var pending = Volatile.Read(ref _clearAllRead);
        if (pending is not null)
        {
            return pending.Task;
        }

        var mine = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending = Interlocked.CompareExchange(ref _clearAllRead, mine, null);
        if (pending is not null)
        {
            return pending.Task;
        }

        _ = ReadAndShareAsync();
        return mine.Task;

        async Task ReadAndShareAsync()
        {
            try
            {
                var learned = await ReadTagRecordsAsync([StampedeKeys.AllTag], remember: true, answered: true).ConfigureAwait(false);
                Volatile.Write(ref _clearAllRead, null); // the next one (after a reset, or after a failed read) reads again
                mine.TrySetResult(learned);
            }
            catch (Exception ex)
            {
                Volatile.Write(ref _clearAllRead, null);
                mine.TrySetException(ex); // ThrowOnDistributedCacheErrors: every reader that shared it gets the failure
            }
        }
    }

    /// <summary>Reads the store's records of <paramref name="ask"/>; true when it learned something or <paramref name="answered"/>.</summary>
    private async Task<bool> ReadTagRecordsAsync(List<string> ask, bool remember, bool answered)
    {
        var epoch = Volatile.Read(ref _tagKnowledgeEpoch);
        var prefixed = ask.ConvertAll(DistributedKey);
        var read = await SafeAsync(StampedeKeys.AllTag, "read tags", (store, _, t) => store.ReadTagInvalidationsAsync(prefixed, t), new DistributedTagsResult { Outcome = DistributedOutcome.Unavailable }, CancellationToken.None).ConfigureAwait(false);
        if (read.Outcome != DistributedOutcome.Done || read.Stamps is not { } stamps || stamps.Count != ask.Count)
        {
            return false;
        }

        var learned = false;
        for (var i = 0; i < ask.Count; i++)
        {
            if (stamps[i] > 0)
            {
                _invalidations.Invalidate(ask[i], stamps[i], StampNow(), _oldestRunStart);
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

        return learned || answered;
    }

    /// <summary>A failed read, as a store that answers its own failures reports it: nothing known, so nothing learned from it.</summary>
    private static DistributedReadResult Unavailable => new() { Outcome = DistributedOutcome.Unavailable };

    /// <summary>A store call whose failure is answered with <paramref name="failed"/> (logged, counted) unless ThrowOnDistributedCacheErrors.</summary>
    private async ValueTask<TResult> SafeAsync<TResult>(string key, string operation, Func<IStampedeDistributedStore, string, CancellationToken, ValueTask<TResult>> call, TResult failed, CancellationToken cancellationToken)
    {
        try
        {
            return await call(_store!, DistributedKey(key), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Tolerated(ex, cancellationToken))
        {
            Failed(ex, operation, key);
            return failed;
        }
    }

    /// <summary>Whether a store call's failure is answered as "nothing there": unless ThrowOnDistributedCacheErrors, or the caller's own cancellation.</summary>
    private bool Tolerated(Exception ex, CancellationToken cancellationToken) =>
        !_options.ThrowOnDistributedCacheErrors && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested);

    /// <summary>A tolerated failure of a store call: logged and counted.</summary>
    private void Failed(Exception ex, string operation, string key)
    {
        _metrics.DistributedErrors.Add(1);
        Log.DistributedError(_logger, operation, key, ex);
    }
}
