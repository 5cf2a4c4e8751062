using Microsoft.Extensions.Caching.Hybrid;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Returned by <c>AddStampedeGuard</c>: add tiers to it (<c>.UseDistributedCache()</c>, <c>.AddRedis(...)</c>). It is
/// also an <see cref="IHybridCacheBuilder"/>, so HybridCache's <c>AddSerializer</c> and <c>AddSerializerFactory</c>
/// work on it.
/// </summary>
public interface IStampedeGuardBuilder : IHybridCacheBuilder
{
}
