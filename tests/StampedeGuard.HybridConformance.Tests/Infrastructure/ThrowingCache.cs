using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>An L1 and L2 that throw on every use: proves a call with both tiers disabled never touches them.</summary>
public sealed class ThrowingCache : IMemoryCache, IDistributedCache
{
    public ICacheEntry CreateEntry(object key) => throw Touched();

    public bool TryGetValue(object key, out object? value) => throw Touched();

    public void Remove(object key) => throw Touched();

    public byte[]? Get(string key) => throw Touched();

    public Task<byte[]?> GetAsync(string key, CancellationToken token = default) => throw Touched();

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => throw Touched();

    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default) => throw Touched();

    public void Refresh(string key) => throw Touched();

    public Task RefreshAsync(string key, CancellationToken token = default) => throw Touched();

    public void Remove(string key) => throw Touched();

    public Task RemoveAsync(string key, CancellationToken token = default) => throw Touched();

    public void Dispose()
    {
    }

    private static NotSupportedException Touched() => new("This cache tier must not be used.");
}
