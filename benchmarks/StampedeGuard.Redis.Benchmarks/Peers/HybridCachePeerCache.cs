using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>
/// Microsoft HybridCache 10 as its docs set it up with Redis: <c>AddStackExchangeRedisCache</c> (the registered
/// <c>IDistributedCache</c> becomes L2) and <c>AddHybridCache()</c>. It has no backplane and no cross-process lock.
/// </summary>
internal sealed class HybridCachePeerCache : PeerCache
{
    private static readonly HybridCacheEntryOptions ReadOnly = new() { Flags = HybridCacheEntryFlags.DisableUnderlyingData };
    private readonly HybridCache _cache;

    public HybridCachePeerCache(string configuration)
        : base(services => services.AddStackExchangeRedisCache(o => o.Configuration = configuration).AddHybridCache()) =>
        _cache = Resolve<HybridCache>();

    public override Func<string, ValueTask<string>> Prepare(Func<CancellationToken, ValueTask<string>> factory, TimeSpan duration, bool skipLocalRead = false)
    {
        var options = new HybridCacheEntryOptions
        {
            Expiration = duration,
            LocalCacheExpiration = duration,
            Flags = skipLocalRead ? HybridCacheEntryFlags.DisableLocalCacheRead : HybridCacheEntryFlags.None,
        };
        return key => _cache.GetOrCreateAsync(key, factory, static (f, ct) => f(ct), options);
    }

    public override ValueTask SetAsync(string key, string value, TimeSpan duration) =>
        _cache.SetAsync(key, value, new HybridCacheEntryOptions { Expiration = duration, LocalCacheExpiration = duration });

    public override async ValueTask<string?> TryGetAsync(string key) =>
        await _cache.GetOrCreateAsync<string?>(key, static _ => ValueTask.FromResult<string?>(null), ReadOnly);
}
