using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Locking.Distributed.Redis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>
/// FusionCache 2.9 as its docs set it up for several nodes: a serializer, Microsoft's <c>RedisCache</c> as the
/// distributed cache (L2), its StackExchange.Redis backplane and its Redis distributed locker (the fleet-wide
/// stampede protection). Everything else at its defaults (no fail-safe, no eager refresh: both opt-in).
/// </summary>
internal sealed class FusionCachePeerCache : PeerCache
{
    private readonly IFusionCache _cache;

    public FusionCachePeerCache(string configuration)
        : base(services => services.AddFusionCache()
            .WithSerializer(new FusionCacheSystemTextJsonSerializer())
            .WithDistributedCache(new RedisCache(new RedisCacheOptions { Configuration = configuration }))
            .WithStackExchangeRedisBackplane(o => o.Configuration = configuration)
            .WithRedisDistributedLocker(o => o.Configuration = configuration)) =>
        _cache = Resolve<IFusionCache>();

    public override Func<string, ValueTask<string>> Prepare(Func<CancellationToken, ValueTask<string>> factory, TimeSpan duration, bool skipLocalRead = false)
    {
        var options = new FusionCacheEntryOptions { Duration = duration, SkipMemoryCacheRead = skipLocalRead };
        Func<FusionCacheFactoryExecutionContext<string>, CancellationToken, Task<string>> adapted = (_, ct) => factory(ct).AsTask();
        return key => _cache.GetOrSetAsync<string>(key, adapted, options);
    }

    public override ValueTask SetAsync(string key, string value, TimeSpan duration) =>
        _cache.SetAsync(key, value, new FusionCacheEntryOptions { Duration = duration });

    public override async ValueTask<string?> TryGetAsync(string key) => (await _cache.TryGetAsync<string>(key)).GetValueOrDefault(null!);
}
