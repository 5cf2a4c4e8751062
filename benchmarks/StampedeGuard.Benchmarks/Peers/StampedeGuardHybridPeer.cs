using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Benchmarks.Peers;

/// <summary>
/// StampedeGuard as code written against Microsoft's HybridCache gets it: <c>AddStampedeGuard()</c> in DI, called
/// through the <see cref="HybridCache"/> abstraction exactly as <see cref="HybridCachePeer"/> calls Microsoft's (same
/// overload, same entry options), so the two rows differ only in the implementation behind the abstract class.
/// </summary>
/// <param name="value">The value every factory returns.</param>
/// <param name="localCacheSizeLimit">The L1's size limit; the default (256 MiB) when null.</param>
public sealed class StampedeGuardHybridPeer(Page value, long? localCacheSizeLimit = null) : CachePeer(value)
{
    private readonly ServiceProvider _services = Build(localCacheSizeLimit);

    /// <inheritdoc />
    public override string Name => "StampedeGuard as HybridCache (AddStampedeGuard)";

    /// <inheritdoc />
    protected override int Index => 3;

    private HybridCache Cache => _services.GetRequiredService<HybridCache>();

    /// <inheritdoc />
    public override Page Hit(string key) => Synchronous(GetOrCreateAsync(key));

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateAsync(string key) =>
        Cache.GetOrCreateAsync(key, Value, static (value, _) => new ValueTask<Page>(value));

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateYieldingAsync(string key) =>
        Cache.GetOrCreateAsync(key, Value, static async (value, _) =>
        {
            await Task.Yield();
            return value;
        });

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateGatedAsync(string key, Gate gate) =>
        Cache.GetOrCreateAsync(key, gate, static (g, _) => new ValueTask<Page>(g.RenderAsync()));

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _services.Dispose();

    private static ServiceProvider Build(long? localCacheSizeLimit)
    {
        var services = new ServiceCollection();
        services.Configure<HybridCacheOptions>(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Lifetime, LocalCacheExpiration = Lifetime });
        services.AddStampedeGuard(o => o.LocalCacheSizeLimit = localCacheSizeLimit ?? StampedeCacheOptions.DefaultLocalCacheSizeLimit);
        return services.BuildServiceProvider();
    }
}
