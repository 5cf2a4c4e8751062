using Microsoft.Extensions.Caching.Hybrid;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Returned by <c>AddStampedeGuard</c>: add tiers to it (<c>.UseDistributedCache()</c>, <c>.AddRedis(...)</c>). It is
/// also an <see cref="IHybridCacheBuilder"/>, so HybridCache's <c>AddSerializer</c> and <c>AddSerializerFactory</c>
/// work on it.
/// </summary>
public interface IStampedeGuardBuilder : IHybridCacheBuilder
{
    /// <summary>
    /// Gets the name of the cache this builder configures (<c>AddStampedeGuard(name, ...)</c>), or null for the unnamed
    /// cache. Tier registrations use it as their service key and options name.
    /// </summary>
    string? Name => null;
}
