using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Internal;
using Microsoft.Extensions.Options;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>
/// An in-memory <see cref="IDistributedCache"/> that counts its operations and can be made to fail. It is not a
/// <see cref="MemoryDistributedCache"/> (which Microsoft's HybridCache ignores as an L2), so both implementations use it;
/// several caches sharing one instance behave like nodes sharing Redis.
/// </summary>
public sealed class SharedL2(ISystemClock? clock = null) : IDistributedCache
{
    private readonly MemoryDistributedCache _inner = new(Options.Create(new MemoryDistributedCacheOptions { Clock = clock }));
    private int _gets;
    private int _sets;
    private int _stored;
    private int _removes;

    public int Gets => Volatile.Read(ref _gets);

    public int Sets => Volatile.Read(ref _sets);

    public int Removes => Volatile.Read(ref _removes);

    /// <summary>Writes that have reached the store (an implementation may write L2 in the background).</summary>
    public int Stored => Volatile.Read(ref _stored);

    /// <summary>Waits (bounded) until <paramref name="count"/> writes have reached the store.</summary>
    public async Task StoredAsync(int count)
    {
        var bound = System.Diagnostics.Stopwatch.StartNew();
        while (Stored < count)
        {
            if (bound.Elapsed > TimeSpan.FromSeconds(15))
            {
                throw new TimeoutException($"{count} L2 write(s) did not complete within 15 s ({Stored} did)");
            }

            await Task.Delay(1);
        }
    }

    public bool FailReads { get; set; }

    public bool FailWrites { get; set; }

    public byte[]? Get(string key) => throw new NotSupportedException("async only");

    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        Interlocked.Increment(ref _gets);
        await Task.Yield();
        return FailReads ? throw new InvalidOperationException("L2 read failure") : await _inner.GetAsync(key, token);
    }

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => throw new NotSupportedException("async only");

    public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        Interlocked.Increment(ref _sets);
        await Task.Yield();
        if (FailWrites)
        {
            throw new InvalidOperationException("L2 write failure");
        }

        await _inner.SetAsync(key, value, options, token);
        Interlocked.Increment(ref _stored);
    }

    public void Refresh(string key) => throw new NotSupportedException("async only");

    public Task RefreshAsync(string key, CancellationToken token = default) => _inner.RefreshAsync(key, token);

    public void Remove(string key) => throw new NotSupportedException("async only");

    public Task RemoveAsync(string key, CancellationToken token = default)
    {
        Interlocked.Increment(ref _removes);
        return _inner.RemoveAsync(key, token);
    }
}
