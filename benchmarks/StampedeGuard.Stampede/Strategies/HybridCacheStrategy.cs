using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Stampede.Strategies;

/// <summary>
/// Microsoft's HybridCache as its docs set it up: <c>AddHybridCache()</c>, the entry's expiration (L1 and L2) set to
/// the TTL, the <c>TState</c> overload with a static lambda; memory only (no <c>IDistributedCache</c> registered).
/// HybridCache collapses concurrent misses but has no early refresh or stale serving, so at every expiry the callers wait.
/// </summary>
internal sealed class HybridCacheStrategy : Strategy
{
    private readonly ServiceProvider _services;
    private readonly HybridCache _cache;
    private readonly HybridCacheEntryOptions _options;

    public HybridCacheStrategy(Origin origin, TimeSpan ttl)
        : base(origin, ttl)
    {
        _options = new HybridCacheEntryOptions { Expiration = ttl, LocalCacheExpiration = ttl };
        _services = new ServiceCollection().AddHybridCache(o => o.DefaultEntryOptions = _options).Services.BuildServiceProvider();
        _cache = _services.GetRequiredService<HybridCache>();
    }

    public override ValueTask<LandingPage> GetAsync(CancellationToken cancellationToken) =>
        _cache.GetOrCreateAsync(Scenario.Key, Origin, static (origin, ct) => origin.RenderAsync(ct), _options, cancellationToken: cancellationToken);

    public override ValueTask DisposeAsync() => _services.DisposeAsync();
}
