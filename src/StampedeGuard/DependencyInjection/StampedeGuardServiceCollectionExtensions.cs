using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StampedeGuard;
using StampedeGuard.Distributed;
using StampedeGuard.Hybrid;
using StampedeGuard.Locking;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers StampedeGuard.</summary>
public static class StampedeGuardServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IStampedeCache"/> (and <see cref="StampedeCache"/>), Microsoft's <see cref="HybridCache"/>
    /// backed by it (so code written against HybridCache gets every protection here, tags included), and an in-process
    /// <see cref="IStampedeLock"/>. The registered <see cref="IMemoryCache"/> is the local tier (one is added if absent);
    /// a registered <see cref="IStampedeDistributedStore"/> and <see cref="IStampedeBackplane"/> are used when present.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures the cache-wide options.</param>
    /// <returns>A builder to add tiers to.</returns>
    public static IStampedeGuardBuilder AddStampedeGuard(this IServiceCollection services, Action<StampedeCacheOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<StampedeCacheOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.AddMemoryCache();
        services.TryAddSingleton(static sp =>
        {
            var options = sp.GetRequiredService<IOptions<StampedeCacheOptions>>().Value;
            options.SerializerFactory ??= sp.GetService<IHybridCacheSerializerFactory>();
            return new StampedeCache(
                options,
                sp.GetRequiredService<IMemoryCache>(),
                sp.GetService<IStampedeDistributedStore>(),
                sp.GetService<IStampedeBackplane>(),
                sp.GetService<ILoggerFactory>(),
                sp.GetService<System.Diagnostics.Metrics.IMeterFactory>());
        });
        services.TryAddSingleton<IStampedeCache>(static sp => sp.GetRequiredService<StampedeCache>());
        services.TryAddSingleton<HybridCache>(static sp => new StampedeHybridCache(sp.GetRequiredService<StampedeCache>()));
        services.TryAddSingleton<IStampedeLock>(static sp => new StampedeLocalLock(sp.GetRequiredService<IOptions<StampedeCacheOptions>>().Value.TimeProvider));
        return new Builder(services);
    }

    /// <summary>
    /// Uses the registered <see cref="IDistributedCache"/> as the distributed tier (L2). Single-flight stays per process:
    /// for a cross-process barrier and a backplane use the Redis package's <c>AddRedis</c>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    public static IStampedeGuardBuilder UseDistributedCache(this IStampedeGuardBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // The engine applies StampedeCacheOptions.KeyPrefix to every distributed key itself.
        builder.Services.AddSingleton<IStampedeDistributedStore>(static sp => new DistributedCacheStore(sp.GetRequiredService<IDistributedCache>()));
        return builder;
    }

    private sealed class Builder(IServiceCollection services) : IStampedeGuardBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
