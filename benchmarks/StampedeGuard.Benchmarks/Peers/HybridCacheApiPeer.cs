using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Benchmarks.Peers;

/// <summary>
/// A library reached through Microsoft's <see cref="HybridCache"/> abstraction, resolved once from the container its
/// subclass builds: the <c>TState</c> overload with static lambdas and the container's default entry options. The
/// subclasses differ only in the implementation registered behind the abstract class.
/// </summary>
public abstract class HybridCacheApiPeer : CachePeer
{
    private readonly ServiceProvider _services;
    private readonly HybridCache _cache;

    /// <summary>Takes over <paramref name="services"/> (disposed with the peer) and resolves its <see cref="HybridCache"/>.</summary>
    protected HybridCacheApiPeer(Page value, ServiceProvider services)
        : base(value)
    {
        _services = services;
        _cache = services.GetRequiredService<HybridCache>();
    }

    /// <summary>The container, for other services of the same registration.</summary>
    public IServiceProvider Services => _services;

    /// <inheritdoc />
    public sealed override Page Hit(string key) => Synchronous(GetOrCreateAsync(key));

    /// <inheritdoc />
    public sealed override ValueTask<Page> GetOrCreateAsync(string key) =>
        _cache.GetOrCreateAsync(key, Value, static (value, _) => new ValueTask<Page>(value));

    /// <inheritdoc />
    public sealed override ValueTask<Page> GetOrCreateYieldingAsync(string key) =>
        _cache.GetOrCreateAsync(key, Value, static async (value, _) =>
        {
            await Task.Yield();
            return value;
        });

    /// <inheritdoc />
    public sealed override ValueTask<Page> GetOrCreateGatedAsync(string key, Gate gate) =>
        _cache.GetOrCreateAsync(key, gate, static (g, _) => new ValueTask<Page>(g.RenderAsync()));

    /// <inheritdoc />
    protected sealed override void Dispose(bool disposing) => _services.Dispose();
}
