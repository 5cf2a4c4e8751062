using Microsoft.Extensions.Caching.Distributed;

namespace StampedeGuard.Distributed;

/// <summary>
/// The distributed tier over any <see cref="IDistributedCache"/> (SQL Server, Garnet, NCache, ...): envelopes by key,
/// tag invalidations as marker entries, no locks (single-flight stays per process), no versions and no push
/// notifications. <see cref="IDistributedCache"/> has no conditional write, so a run in flight on another node can
/// overwrite an invalidation made meanwhile: the cross-node guarantees of docs/redis.md need the Redis package.
/// </summary>
public sealed class DistributedCacheStore : IStampedeDistributedStore
{
    private const string TagMarkerPrefix = "\u0001tag:";
    private static readonly TimeSpan TagMarkerLifetime = TimeSpan.FromDays(365);
    private readonly IDistributedCache _cache;
    private readonly string _prefix;

    /// <summary>Creates the store.</summary>
    /// <param name="cache">The distributed cache.</param>
    /// <param name="keyPrefix">Prepended to every key, on top of <see cref="StampedeCacheOptions.KeyPrefix"/> (which the engine applies).</param>
    public DistributedCacheStore(IDistributedCache cache, string? keyPrefix = null)
    {
        _cache = cache ?? throw new ArgumentNullException(nameof(cache));
        _prefix = keyPrefix ?? string.Empty;
    }

    /// <inheritdoc />
    public bool SupportsLocking => false;

    /// <inheritdoc />
    public async ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken) =>
        new() { Envelope = await _cache.GetAsync(_prefix + key, cancellationToken).ConfigureAwait(false) };

    /// <inheritdoc />
    public async ValueTask<DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, DistributedWriteOptions options, CancellationToken cancellationToken)
    {
        // IDistributedCache takes a byte[]: reuse the envelope's own array when it is exactly that, else copy.
        var bytes = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(envelope, out var segment) && segment is { Offset: 0, Array: { } array } && segment.Count == array.Length
            ? array
            : envelope.ToArray();
        await SetAsync(_prefix + key, bytes, options.TimeToLive, cancellationToken).ConfigureAwait(false);
        return new DistributedWriteResult { Outcome = DistributedOutcome.Done };
    }

    /// <inheritdoc />
    public ValueTask<DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken) =>
        ReadAsync(key, default, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<DistributedInvalidationResult> InvalidateAsync(DistributedInvalidation invalidation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(invalidation.Key, nameof(invalidation));
        switch (invalidation.Kind)
        {
            case DistributedInvalidationKind.Remove:
                await _cache.RemoveAsync(_prefix + invalidation.Key, cancellationToken).ConfigureAwait(false);
                break;
            case DistributedInvalidationKind.Expire:
                // No compare-and-set in IDistributedCache: read, mark stale, write back (a write in between is lost).
                var bytes = await _cache.GetAsync(_prefix + invalidation.Key, cancellationToken).ConfigureAwait(false);
                if (bytes is not null && Internal.Envelope.TryRead(bytes, out var times, out _, out _) && times.FreshUntil > 1)
                {
                    Internal.Envelope.PatchTimes(bytes, times.MarkedStale());
                    await SetAsync(_prefix + invalidation.Key, bytes, invalidation.TimeToLive, cancellationToken).ConfigureAwait(false);
                }

                break;
            case DistributedInvalidationKind.Tag:
                await SetAsync(_prefix + TagMarkerPrefix + invalidation.Key, BitConverter.GetBytes(invalidation.Timestamp), TagMarkerLifetime, cancellationToken).ConfigureAwait(false);
                break;
        }

        return new DistributedInvalidationResult { Outcome = DistributedOutcome.Done, Stamp = invalidation.Timestamp };
    }

    /// <inheritdoc />
    public async ValueTask<DistributedTagsResult> ReadTagInvalidationsAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var stamps = new long[tags.Count];
        for (var i = 0; i < tags.Count; i++)
        {
            var marker = await _cache.GetAsync(_prefix + TagMarkerPrefix + tags[i], cancellationToken).ConfigureAwait(false);
            stamps[i] = marker is { Length: 8 } ? BitConverter.ToInt64(marker) : 0;
        }

        return new DistributedTagsResult { Outcome = DistributedOutcome.Done, Stamps = stamps };
    }

    private Task SetAsync(string key, byte[] bytes, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        _cache.SetAsync(key, bytes, new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = timeToLive > TimeSpan.Zero ? timeToLive : TimeSpan.FromMilliseconds(1) }, cancellationToken);
}
