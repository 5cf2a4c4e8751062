using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Benchmarks.Peers;

/// <summary>
/// Microsoft's HybridCache as its docs set it up: <c>AddHybridCache()</c> with default entry options (no L2
/// registered, so it is memory only, like the others here), the <c>TState</c> overload with static lambdas, and an
/// immutable sealed value type so L1 hands out the instance.
/// </summary>
/// <param name="value">The value every factory returns.</param>
public sealed class HybridCachePeer(Page value) : HybridCacheApiPeer(value, new ServiceCollection()
    .AddHybridCache(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Lifetime, LocalCacheExpiration = Lifetime })
    .Services.BuildServiceProvider())
{
    /// <inheritdoc />
    protected override int Index => 1;
}
