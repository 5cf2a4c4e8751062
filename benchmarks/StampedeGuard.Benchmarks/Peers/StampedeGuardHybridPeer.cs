using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Benchmarks.Peers;

/// <summary>
/// StampedeGuard as code written against Microsoft's HybridCache gets it: <c>AddStampedeGuard()</c> in DI, called
/// through the <see cref="HybridCache"/> abstraction exactly as <see cref="HybridCachePeer"/> calls Microsoft's (same
/// base class, same entry options), so the two rows differ only in the implementation behind the abstract class.
/// </summary>
/// <param name="value">The value every factory returns.</param>
/// <param name="localCacheSizeLimit">The L1's size limit; the default (256 MiB) when null.</param>
/// <param name="registeredMemoryCache">Whether to add <c>UseRegisteredMemoryCache()</c> (the L1 in the registered IMemoryCache).</param>
public sealed class StampedeGuardHybridPeer(Page value, long? localCacheSizeLimit = null, bool registeredMemoryCache = false)
    : HybridCacheApiPeer(value, Build(localCacheSizeLimit, registeredMemoryCache))
{
    /// <inheritdoc />
    public override string Name => registeredMemoryCache
        ? "StampedeGuard as HybridCache (AddStampedeGuard().UseRegisteredMemoryCache())"
        : "StampedeGuard as HybridCache (AddStampedeGuard)";

    /// <inheritdoc />
    protected override int Index => 3;

    private static ServiceProvider Build(long? localCacheSizeLimit, bool registeredMemoryCache)
    {
        var services = new ServiceCollection();
        services.Configure<HybridCacheOptions>(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Lifetime, LocalCacheExpiration = Lifetime });
        var builder = services.AddStampedeGuard(o => o.LocalCacheSizeLimit = localCacheSizeLimit ?? StampedeCacheOptions.DefaultLocalCacheSizeLimit);
        if (registeredMemoryCache)
        {
            builder.UseRegisteredMemoryCache();
        }

        return services.BuildServiceProvider();
    }
}
