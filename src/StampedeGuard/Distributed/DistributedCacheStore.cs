using Microsoft.Extensions.Caching.Distributed;

namespace StampedeGuard.Distributed;

/// <summary>
/// The distributed tier over any <see cref="IDistributedCache"/> (SQL Server, Garnet, NCache, ...): envelopes by key,
/// no locks (single-flight stays per process) and no push notifications. Use the Redis package for a cross-process barrier.
/// </summary>
public sealed class DistributedCacheStore : IStampedeDistributedStore
{
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
        new(await _cache.GetAsync(_prefix + key, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public async ValueTask<DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, DistributedWriteOptions options, CancellationToken cancellationToken)
    {
        // IDistributedCache takes a byte[]: reuse the envelope's own array when it is exactly that, else copy.
        var bytes = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(envelope, out var segment) && segment is { Offset: 0, Array: { } array } && segment.Count == array.Length
            ? array
            : envelope.ToArray();
        var entryOptions = new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = options.TimeToLive > TimeSpan.Zero ? options.TimeToLive : TimeSpan.FromMilliseconds(1) };
        await _cache.SetAsync(_prefix + key, bytes, entryOptions, cancellationToken).ConfigureAwait(false);
        return new DistributedWriteResult(Written: true, Notified: false);
    }

    /// <inheritdoc />
    public async ValueTask<DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken) =>
        new(await _cache.GetAsync(_prefix + key, cancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public async ValueTask RemoveAsync(string key, CancellationToken cancellationToken) =>
        await _cache.RemoveAsync(_prefix + key, cancellationToken).ConfigureAwait(false);
}
