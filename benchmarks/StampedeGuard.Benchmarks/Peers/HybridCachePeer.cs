using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Benchmarks.Peers;

/// <summary>
/// Microsoft's HybridCache as its docs set it up: <c>AddHybridCache()</c> with default entry options (no L2
/// registered, so it is memory only, like the others here), the <c>TState</c> overload with static lambdas, and an
/// immutable sealed value type so L1 hands out the instance.
/// </summary>
public sealed class HybridCachePeer : CachePeer
{
    private readonly ServiceProvider _services;
    private readonly HybridCache _cache;

    /// <summary>Creates a HybridCache through dependency injection.</summary>
    public HybridCachePeer(Page value)
        : base(value)
    {
        _services = new ServiceCollection()
            .AddHybridCache(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Lifetime, LocalCacheExpiration = Lifetime })
            .Services.BuildServiceProvider();
        _cache = _services.GetRequiredService<HybridCache>();
    }

    /// <inheritdoc />
    protected override int Index => 1;

    /// <inheritdoc />
    public override Page Hit(string key) => Synchronous(GetOrCreateAsync(key));

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateAsync(string key) =>
        _cache.GetOrCreateAsync(key, Value, static (value, _) => new ValueTask<Page>(value));

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateYieldingAsync(string key) =>
        _cache.GetOrCreateAsync(key, Value, static async (value, _) =>
        {
            await Task.Yield();
            return value;
        });

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateGatedAsync(string key, Gate gate) =>
        _cache.GetOrCreateAsync(key, gate, static (g, _) => new ValueTask<Page>(g.RenderAsync()));

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _services.Dispose();
}
