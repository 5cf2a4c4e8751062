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
        return new Builder(services, null);
    }

    /// <summary>
    /// Registers a named cache, with its own options, tiers and telemetry name, beside the unnamed cache and other named
    /// ones: <see cref="IStampedeCache"/>, <see cref="StampedeCache"/> and <see cref="HybridCache"/> as keyed services
    /// under <paramref name="name"/> (inject <c>[FromKeyedServices("orders")] IStampedeCache</c>, or call
    /// <c>GetRequiredKeyedService&lt;IStampedeCache&gt;("orders")</c>), and a keyed in-process <see cref="IStampedeLock"/>.
    /// Call it again with the same name to configure more: the options add up and one cache is created.
    /// </summary>
    /// <remarks>
    /// <para><b>Options</b>: the named options <c>IOptionsMonitor&lt;StampedeCacheOptions&gt;.Get(name)</c>, so
    /// <c>services.Configure&lt;StampedeCacheOptions&gt;(name, ...)</c> and configuration binding work too; the unnamed
    /// cache's options do not apply. <see cref="StampedeCacheOptions.CacheName"/> is set to <paramref name="name"/>, so its
    /// measurements and activities carry the <c>stampedeguard.cache.name</c> tag. Invalid options fail its resolution with
    /// an <see cref="ArgumentException"/> whose message names the cache. HybridCache options are the named
    /// <c>HybridCacheOptions</c> of the same name.</para>
    /// <para><b>Tiers</b> added to the returned builder belong to this cache only: it uses the distributed store and
    /// backplane registered under its name (<c>.AddRedis(...)</c>, <see cref="UseDistributedCache"/>), never the unnamed
    /// ones. Keys are kept apart: the Redis tier's <c>KeyPrefix</c> left at its default <c>"sg:"</c> becomes
    /// <c>"sg:{name}:"</c> (keys, tag records and the backplane channel), and with <see cref="UseDistributedCache"/> an empty
    /// <see cref="StampedeCacheOptions.KeyPrefix"/> becomes <c>"{name}:"</c>; a prefix you set is used as given.
    /// <see cref="UseRegisteredMemoryCache"/> needs an <see cref="IMemoryCache"/> registered under the name (an
    /// <see cref="IMemoryCache"/> shared by two caches would mix their keys).</para>
    /// </remarks>
    /// <param name="services">The services.</param>
    /// <param name="name">The cache's name and service key: not blank, no <c>{</c> or <c>}</c> (it becomes part of Redis keys).</param>
    /// <param name="configure">Configures this cache's options.</param>
    /// <returns>A builder to add this cache's tiers (and HybridCache serializers, which all caches share) to.</returns>
    public static IStampedeGuardBuilder AddStampedeGuard(this IServiceCollection services, string name, Action<StampedeCacheOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ValidateName(name);
        services.AddOptions<StampedeCacheOptions>(name);
        if (configure is not null)
        {
            services.Configure(name, configure);
        }

        services.AddMemoryCache();
        services.TryAddKeyedSingleton<StampedeCache>(name, static (sp, key) => CreateNamed(sp, (string)key!));
        services.TryAddKeyedSingleton<IStampedeCache>(name, static (sp, key) => sp.GetRequiredKeyedService<StampedeCache>(key));
        services.RemoveAllKeyed<HybridCache>(name);
        services.AddKeyedSingleton<HybridCache>(name, static (sp, key) =>
        {
            var cache = sp.GetRequiredKeyedService<StampedeCache>(key);
            return new StampedeHybridCache(
                cache,
                sp.GetRequiredService<IOptionsMonitor<HybridCacheOptions>>().Get((string)key!).DefaultEntryOptions,
                cache.Options.SerializerFactory!,
                sp.GetService<ILoggerFactory>());
        });
        services.TryAddKeyedSingleton<IStampedeLock>(name, static (sp, key) => new StampedeLocalLock(sp.GetRequiredKeyedService<StampedeCache>(key).Options.TimeProvider));
        return new Builder(services, name);
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
        if (builder.Name is not { } name)
        {
            builder.Services.AddSingleton<IStampedeDistributedStore>(static sp => new DistributedCacheStore(sp.GetRequiredService<IDistributedCache>()));
            return builder;
        }

        // A named cache: the IDistributedCache registered under its name, else the shared one, its keys kept apart by
        // a default KeyPrefix of "{name}:".
        builder.Services.PostConfigure<StampedeCacheOptions>(name, o =>
        {
            if (o.KeyPrefix.Length == 0)
            {
                o.KeyPrefix = name + ":";
            }
        });
        builder.Services.RemoveAllKeyed<IStampedeDistributedStore>(name);
        builder.Services.AddKeyedSingleton<IStampedeDistributedStore>(name, static (sp, key) =>
            new DistributedCacheStore(sp.GetKeyedService<IDistributedCache>(key) ?? sp.GetRequiredService<IDistributedCache>()));
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
        if (builder.Name is { } name)
        {
            builder.Services.TryAddKeyedSingleton<RegisteredMemoryCache>(name);
        }
        else
        {
            builder.Services.TryAddSingleton<RegisteredMemoryCache>();
        }

        return builder;
    }

    private static void ValidateName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (string.IsNullOrWhiteSpace(name) || name.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            throw new ArgumentException("A cache name must not be blank nor contain '{' or '}' (it becomes part of Redis keys, where braces are the Cluster hash tag).", nameof(name));
        }
    }

    private static StampedeCache CreateNamed(IServiceProvider sp, string name)
    {
        StampedeCacheOptions options;
        try
        {
            options = sp.GetRequiredService<IOptionsMonitor<StampedeCacheOptions>>().Get(name);
            options.CacheName = name;
            HybridOptionsMapping.Apply(sp.GetRequiredService<IOptionsMonitor<HybridCacheOptions>>().Get(name), options);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"Invalid options for the StampedeGuard cache '{name}': {ex.Message}", ex);
        }

        if (ReferenceEquals(options.TimeProvider, TimeProvider.System) && sp.GetService<TimeProvider>() is { } clock)
        {
            options.TimeProvider = clock;
        }

        if (options.SerializerFactory is not HybridSerializerResolver)
        {
            options.SerializerFactory = new HybridSerializerResolver(sp, options.SerializerFactory);
        }

        IMemoryCache? memory = null;
        if (sp.GetKeyedService<RegisteredMemoryCache>(name) is not null)
        {
            memory = sp.GetKeyedService<IMemoryCache>(name) ?? throw new InvalidOperationException(
                $"The StampedeGuard cache '{name}' uses UseRegisteredMemoryCache() but no IMemoryCache is registered under the key '{name}': register one (services.AddKeyedSingleton<IMemoryCache>(\"{name}\", ...)); one IMemoryCache shared by two caches would mix their keys.");
        }

        try
        {
            return new StampedeCache(
                options,
                memory,
                sp.GetKeyedService<IStampedeDistributedStore>(name),
                sp.GetKeyedService<IStampedeBackplane>(name),
                sp.GetService<ILoggerFactory>(),
                sp.GetService<System.Diagnostics.Metrics.IMeterFactory>());
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"Invalid options for the StampedeGuard cache '{name}': {ex.Message}", ex);
        }
    }

    /// <summary>Marks a registration whose engine keeps its L1 in the registered <see cref="IMemoryCache"/>.</summary>
    private sealed class RegisteredMemoryCache;

    private sealed class Builder(IServiceCollection services, string? name) : IStampedeGuardBuilder
    {
        public IServiceCollection Services { get; } = services;

        public string? Name { get; } = name;
    }
}
