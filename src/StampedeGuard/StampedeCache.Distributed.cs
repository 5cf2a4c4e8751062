using System.Buffers;
using Microsoft.Extensions.Caching.Hybrid;
using StampedeGuard.Distributed;
using StampedeGuard.Internal;
using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard;

/// <summary>The distributed tier (L2) and the backplane: the barrier read, fenced writes, envelopes, other nodes' messages.</summary>
public sealed partial class StampedeCache
{
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
        var judgeAt = new DateTimeOffset(replacing is null ? Now() : Math.Max(Now(), replacing.Times.FreshUntil), TimeSpan.Zero);
        ValueTask<DistributedReadResult> ReadOrAcquireAsync() => SafeL2Async(key, "read", (store, k, t) =>
            store.ReadAsync(k, new DistributedReadOptions(mode, replacing is null ? new DateTimeOffset(Now(), TimeSpan.Zero) : judgeAt, _options.DistributedLockLease), t), flight.Token);

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

    private bool UsesL2(StampedeCacheEntryOptions options) => _l2 is not null && !options.SkipDistributedCache;

    private string DistributedKey(string key) => _prefix.Length == 0 ? key : _prefix + key;

    private IHybridCacheSerializer<T> Serializer<T>() =>
        (IHybridCacheSerializer<T>)_serializers.GetOrAdd(typeof(T), static (_, factory) =>
            factory.TryCreateSerializer<T>(out var serializer) ? serializer : throw new InvalidOperationException($"No serializer for {typeof(T)}."), _serializerFactory);

    /// <summary>
    /// Writes an entry to L2 (fenced by <paramref name="lease"/> if any) and tells other nodes. An entry that is not
    /// written (L2 skipped, payload too large, not serializable) still tells them to drop their older copy.
    /// </summary>
    /// <returns>Whether the write consumed <paramref name="lease"/> (the store released it with the write) or was refused.</returns>
    private ValueTask<DistributedWrite> WriteDistributedAsync<T>(string key, CacheEntry<T> entry, StampedeCacheEntryOptions options, StampedeLease? lease, CancellationToken cancellationToken = default) =>
        _l2 is null && _backplane is null
            ? new ValueTask<DistributedWrite>(DistributedWrite.NotConsumed) // a local-only cache: nothing to write, nobody to tell
            : WriteDistributedCoreAsync(key, entry, options, lease, cancellationToken);

    private async ValueTask<DistributedWrite> WriteDistributedCoreAsync<T>(string key, CacheEntry<T> entry, StampedeCacheEntryOptions options, StampedeLease? lease, CancellationToken cancellationToken)
    {
        var envelope = UsesL2(options) ? SerializeEnvelope(key, entry) : null;
        if (envelope is null)
        {
            await PublishAsync(new BackplaneMessage(BackplaneMessageKind.Remove, key, null, entry.Times.Created), cancellationToken).ConfigureAwait(false);
            return DistributedWrite.NotConsumed;
        }

        var now = Now();
        var ttl = EntryTimes.Lifetime(Math.Max(entry.Times.KeepUntil, now + TimeSpan.TicksPerMillisecond), now);
        var writeOptions = new DistributedWriteOptions(ttl, new DateTimeOffset(entry.Times.FreshUntil, TimeSpan.Zero), lease, Notify: true);
        // Null when the store failed (logged, counted), Unavailable when it could not be asked: neither is a refusal,
        // the lease is released when the run ends.
        var attempt = await SafeL2Async<DistributedWriteResult?>(key, "write", async (store, k, t) => await store.WriteAsync(k, envelope, writeOptions, t).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        if (lease is not null && attempt is { Written: false, Unavailable: false })
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
                    var now = Now();
                    if (_local.Find(message.Key, now) is CacheEntry current && current.Times.Created >= times.Created)
                    {
                        break;
                    }

                    _local.Store(message.Key, new RawEnvelope(envelope), envelope.Length, Math.Max(times.KeepUntil, now + 1), now);
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

    /// <summary>The outcome of a distributed write for the lease that fenced it.</summary>
    private enum DistributedWrite
    {
        NotConsumed,
        ConsumedLease,
        Refused,
    }
}
