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
using StampedeGuard.Serialization;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers StampedeGuard.</summary>
public static class StampedeGuardServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IStampedeCache"/> (and <see cref="StampedeCache"/>), Microsoft's <see cref="HybridCache"/>
    /// backed by it (so code written against HybridCache gets every protection here, tags included), and an in-process
    /// <see cref="IStampedeLock"/>. The local tier (L1) is the engine's own, bounded by
    /// <see cref="StampedeCacheOptions.LocalCacheSizeLimit"/>; <see cref="UseRegisteredMemoryCache"/> puts it in the
    /// registered <see cref="IMemoryCache"/> instead (an <see cref="IMemoryCache"/> is registered if absent, as
    /// <c>AddHybridCache()</c> does, for code that injects one);
    /// a registered <see cref="IStampedeDistributedStore"/> and <see cref="IStampedeBackplane"/> are used when present.
    /// A registered <see cref="IDistributedCache"/> becomes the distributed tier only with <see cref="UseDistributedCache"/>.
    /// </summary>
    /// <remarks>
    /// <para><b>HybridCache registration</b>: this replaces a <see cref="HybridCache"/> registered before it (for example
    /// by <c>AddHybridCache()</c>), and <c>AddHybridCache()</c> called after it adds its serializers and options but keeps
    /// this registration (Microsoft registers with TryAdd). An explicit <c>services.AddSingleton&lt;HybridCache&gt;(...)</c>
    /// after this call wins: the last registration is the one resolved.</para>
    /// <para><b>HybridCacheOptions</b> (from <c>AddHybridCache(o =&gt; ...)</c> or <c>Configure&lt;HybridCacheOptions&gt;</c>):
    /// <c>MaximumKeyLength</c> and <c>MaximumPayloadBytes</c> that differ from HybridCache's defaults override the
    /// values of <see cref="StampedeCacheOptions"/>; <c>DefaultEntryOptions</c> are the HybridCache adapter's defaults.</para>
    /// <para><b>Serializers</b>: an <see cref="IHybridCacheSerializer{T}"/> registered for the type, then
    /// <see cref="StampedeCacheOptions.SerializerFactory"/>, then registered <see cref="IHybridCacheSerializerFactory"/>
    /// services (last registered first), then System.Text.Json with HybridCache's default options.</para>
    /// <para><b>Clock</b>: a <see cref="TimeProvider"/> registered in DI is used when <see cref="StampedeCacheOptions.TimeProvider"/> is left at the system clock.</para>
    /// </remarks>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures the cache-wide options.</param>
    /// <returns>A builder to add tiers (and HybridCache serializers) to.</returns>
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
            HybridOptionsMapping.Apply(sp.GetRequiredService<IOptions<HybridCacheOptions>>().Value, options);
            if (ReferenceEquals(options.TimeProvider, TimeProvider.System) && sp.GetService<TimeProvider>() is { } clock)
            {
                options.TimeProvider = clock;
            }

            if (options.SerializerFactory is not HybridSerializerResolver)
            {
                options.SerializerFactory = new HybridSerializerResolver(sp, options.SerializerFactory);
            }

            return new StampedeCache(
                options,
                sp.GetService<RegisteredMemoryCache>() is null ? null : sp.GetRequiredService<IMemoryCache>(),
                sp.GetService<IStampedeDistributedStore>(),
                sp.GetService<IStampedeBackplane>(),
                sp.GetService<ILoggerFactory>(),
                sp.GetService<System.Diagnostics.Metrics.IMeterFactory>());
        });
        services.TryAddSingleton<IStampedeCache>(static sp => sp.GetRequiredService<StampedeCache>());
        services.Replace(ServiceDescriptor.Singleton<HybridCache>(static sp =>
        {
            var cache = sp.GetRequiredService<StampedeCache>();
            return new StampedeHybridCache(
                cache,
                sp.GetRequiredService<IOptions<HybridCacheOptions>>().Value.DefaultEntryOptions,
                cache.Options.SerializerFactory!,
                sp.GetService<ILoggerFactory>());
        }));
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

    /// <summary>
    /// Keeps the local tier (L1) in the registered <see cref="IMemoryCache"/>, as Microsoft's HybridCache does, instead
    /// of the engine's own: for an application that bounds, compacts, clears or watches that cache and wants cached
    /// values counted there. Entries are then sized for its <c>SizeLimit</c> in the units of
    /// <see cref="StampedeCacheOptions.LocalCacheSizeLimit"/> (which no longer applies), and a hit costs a
    /// <see cref="MemoryCache"/> lookup: about 2.5 times the engine's own L1 hit (docs/benchmarks.md).
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    public static IStampedeGuardBuilder UseRegisteredMemoryCache(this IStampedeGuardBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<RegisteredMemoryCache>();
        return builder;
    }

    /// <summary>Marks a registration whose engine keeps its L1 in the registered <see cref="IMemoryCache"/>.</summary>
    private sealed class RegisteredMemoryCache;

    private sealed class Builder(IServiceCollection services) : IStampedeGuardBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
