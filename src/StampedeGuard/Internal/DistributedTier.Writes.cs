using System.Buffers;
using StampedeGuard.Distributed;

namespace StampedeGuard.Internal;

/// <summary>
/// The tier's writes: a run's value (conditional on its read's version, fenced by its lease), explicit sets and
/// invalidations (retried, confirmed or thrown), what other nodes are told, envelopes written, leases released.
/// </summary>
internal sealed partial class DistributedTier
{
    /// <summary>How often an invalidation is tried before it throws: a store that could not be asked may not have applied it.</summary>
    private const int InvalidationAttempts = 3;

    private static readonly TimeSpan InvalidationRetryDelay = TimeSpan.FromMilliseconds(50);

    /// <summary>How far the learned store clock may be off (a round trip): a run's start is judged this much earlier.</summary>
    private static readonly long StampMargin = TimeSpan.FromMilliseconds(50).Ticks;

    /// <summary>
    /// A run's value written to the store: conditional on the version its read returned (an invalidation or another
    /// write since then wins), fenced by the run's lease if any; the store tells other nodes in the same step. An
    /// entry that is not written (L2 skipped, payload too large, not serializable) still tells them to drop their
    /// older copy.
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="entry">The run's entry.</param>
    /// <param name="options">The run's effective entry options.</param>
    /// <param name="run">The run: its lease, and the version and clock of its read.</param>
    /// <returns>How the write ended.</returns>
    public ValueTask<WriteOutcome> WriteRunAsync<T>(string key, CacheEntry<T> entry, StampedeCacheEntryOptions options, Flight<T> run) =>
        _store is null && _backplane is null
            ? new ValueTask<WriteOutcome>(WriteOutcome.Skipped) // a local-only cache: nothing to write, nobody to tell
            : WriteAsync(key, entry, options, run.Lease, run.ReadDistributed ? run.ReadVersion : null, run.ReadStamp, conditional: true, CancellationToken.None, RunStartStamp(run));

    /// <summary>
    /// Writes an entry to the store (its envelope; a removal message to other nodes when it has none). A conditional
    /// write (a run's, a write condition's) is tried once and kept local when the store cannot be asked; an
    /// unconditional one (an explicit set, itself an invalidation) is retried and throws unless confirmed.
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <param name="key">The cache key.</param>
    /// <param name="entry">The entry; its <see cref="CacheEntry.PayloadBytes"/> is set from its serialized payload.</param>
    /// <param name="options">The entry's options.</param>
    /// <param name="lease">The lease that fences the write, if any.</param>
    /// <param name="expectedVersion">The key's version the write is conditional on; null when it is not.</param>
    /// <param name="readStamp">The store's clock at the read that returned <paramref name="expectedVersion"/>.</param>
    /// <param name="conditional">Whether the write is conditional (else an invalidation).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <param name="unchangedSince">Without an expected version: the key and the entry's tags must be unchanged since this instant on the store's clock.</param>
    /// <returns>How the write ended.</returns>
    /// <exception cref="StampedeInvalidationException">An unconditional write could not be confirmed.</exception>
    public async ValueTask<WriteOutcome> WriteAsync<T>(string key, CacheEntry<T> entry, StampedeCacheEntryOptions options, StampedeLease? lease, long? expectedVersion, long readStamp, bool conditional, CancellationToken cancellationToken, long unchangedSince = 0)
    {
        var envelope = _store is not null && !options.SkipDistributedCache ? SerializeEnvelope(key, entry) : null;
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

        var now = _now();
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
                result = await _store!.WriteAsync(DistributedKey(key), envelope, writeOptions, cancellationToken).ConfigureAwait(false);
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
    /// An explicit invalidation in the store, tried up to <see cref="InvalidationAttempts"/> times: it never reports
    /// success unless the store confirmed it, and throws <see cref="StampedeInvalidationException"/> when it may not
    /// have applied. The store tells other nodes in the same step where it can; else the backplane does. Without a
    /// store, the backplane's message is the invalidation.
    /// </summary>
    /// <param name="kind">What the store is to do.</param>
    /// <param name="key">The key, or the tag.</param>
    /// <param name="messageKind">What other nodes are told.</param>
    /// <param name="timeToLive">How long an expired value stays in the store (for an expiry).</param>
    /// <param name="cancellationToken">Cancels the invalidation (and its retries).</param>
    /// <returns>The store's answer: the key's version after it, and the store's clock.</returns>
    /// <exception cref="StampedeInvalidationException">The invalidation could not be confirmed.</exception>
    public async ValueTask<DistributedInvalidationResult> InvalidateAsync(DistributedInvalidationKind kind, string key, BackplaneMessageKind messageKind, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        var stamp = StampNow();
        if (_store is null)
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
                var result = await _store.InvalidateAsync(invalidation, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Releases a lease; a failure is logged and counted (the lease ends with its duration anyway).</summary>
    /// <param name="lease">The lease.</param>
    /// <returns>A task that completes when the release was tried.</returns>
    public async ValueTask ReleaseQuietlyAsync(StampedeLease lease)
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

    /// <summary>
    /// For a run that could not read the store: when it began on the store's clock (the engine's clock plus the learned
    /// offset, less a margin for that offset's error), so its write is refused if the key changed since; 0 (no
    /// write) while this node has not learned the store's clock.
    /// </summary>
    private long RunStartStamp(Flight run) =>
        run.ReadDistributed || !KnowsStoreClock
            ? 0
            : run.StartedAt + Volatile.Read(ref _stampOffset) - StampMargin;

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
}
