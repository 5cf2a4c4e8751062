using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using StampedeGuard;
using StampedeGuard.Distributed;
using StampedeGuard.Locking;
using StampedeGuard.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Redis tier.</summary>
public static class RedisStampedeGuardBuilderExtensions
{
    /// <summary>
    /// Uses Redis as the distributed tier (L2), cross-process barrier and backplane, and registers
    /// <see cref="RedisStampedeLock"/> as the <see cref="IStampedeLock"/>. The connection is
    /// <see cref="RedisStampedeOptions.ConnectionMultiplexer"/>, else a registered <see cref="IConnectionMultiplexer"/>,
    /// else one opened from <see cref="RedisStampedeOptions.Configuration"/> (owned and disposed by the tier, connected in
    /// the background: resolving the tier never waits for Redis).
    /// The engine puts <see cref="StampedeCacheOptions.KeyPrefix"/> in front of the keys it passes to the tier, so Redis keys
    /// read <c>{RedisStampedeOptions.KeyPrefix}{{{StampedeCacheOptions.KeyPrefix}{key}}}:v</c>.
    /// <para>
    /// On the builder of a named cache (<c>AddStampedeGuard("orders", ...)</c>) everything is registered under that name
    /// (keyed services, named <see cref="RedisStampedeOptions"/>) and belongs to that cache only; its connection is
    /// <see cref="RedisStampedeOptions.ConnectionMultiplexer"/>, else an <see cref="IConnectionMultiplexer"/> registered
    /// under the name, else the registered one, else its own. Its <see cref="RedisStampedeOptions.KeyPrefix"/> left at the
    /// default <c>"sg:"</c> becomes <c>"sg:orders:"</c>, so its keys, tag records and backplane channel
    /// (<c>sg:orders:__notify</c>) are its own; a prefix you set is used as given (give each cache a different one).
    /// </para>
    /// </summary>
    /// <param name="builder">The builder from <c>AddStampedeGuard</c>.</param>
    /// <param name="configure">Configures the Redis options.</param>
    /// <returns>The builder.</returns>
    public static IStampedeGuardBuilder AddRedis(this IStampedeGuardBuilder builder, Action<RedisStampedeOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var services = builder.Services;
        if (builder.Name is { } name)
        {
            AddNamed(services, name, configure);
            return builder;
        }

        services.AddOptions<RedisStampedeOptions>().Configure(configure);
        services.TryAddSingleton(static sp =>
        {
            var options = sp.GetRequiredService<IOptions<RedisStampedeOptions>>().Value.Clone();
            var cacheOptions = sp.GetService<IOptions<StampedeCacheOptions>>()?.Value;
            options.MeterFactory ??= sp.GetService<System.Diagnostics.Metrics.IMeterFactory>();
            return RedisStampedeTier.Create(options, sp.GetService<IConnectionMultiplexer>(), sp.GetService<ILoggerFactory>(), cacheOptions?.TimeProvider);
        });
        services.Replace(ServiceDescriptor.Singleton<IStampedeDistributedStore>(static sp => sp.GetRequiredService<RedisStampedeTier>()));
        services.Replace(ServiceDescriptor.Singleton<IStampedeBackplane>(static sp => sp.GetRequiredService<RedisStampedeTier>()));
        services.TryAddSingleton(static sp => new RedisStampedeLock(sp.GetRequiredService<RedisStampedeTier>()));
        services.Replace(ServiceDescriptor.Singleton<IStampedeLock>(static sp => sp.GetRequiredService<RedisStampedeLock>()));
        return builder;
    }

    private static void AddNamed(IServiceCollection services, string name, Action<RedisStampedeOptions> configure)
    {
        services.AddOptions<RedisStampedeOptions>(name).Configure(configure);
        services.PostConfigure<RedisStampedeOptions>(name, o =>
        {
            if (o.KeyPrefix == DefaultKeyPrefix)
            {
                o.KeyPrefix = DefaultKeyPrefix + name + ":";
            }
        });
        services.TryAddKeyedSingleton(name, static (sp, key) =>
        {
            var name = (string)key!;
            RedisStampedeOptions options;
            try
            {
                options = sp.GetRequiredService<IOptionsMonitor<RedisStampedeOptions>>().Get(name).Clone();
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException($"Invalid Redis options for the StampedeGuard cache '{name}': {ex.Message}", ex);
            }

            var clock = sp.GetService<IOptionsMonitor<StampedeCacheOptions>>()?.Get(name).TimeProvider;
            options.MeterFactory ??= sp.GetService<System.Diagnostics.Metrics.IMeterFactory>();
            var connection = sp.GetKeyedService<IConnectionMultiplexer>(name) ?? sp.GetService<IConnectionMultiplexer>();
            return RedisStampedeTier.Create(options, connection, sp.GetService<ILoggerFactory>(), clock);
        });
        services.RemoveAllKeyed<IStampedeDistributedStore>(name);
        services.AddKeyedSingleton<IStampedeDistributedStore>(name, static (sp, key) => sp.GetRequiredKeyedService<RedisStampedeTier>(key));
        services.RemoveAllKeyed<IStampedeBackplane>(name);
        services.AddKeyedSingleton<IStampedeBackplane>(name, static (sp, key) => sp.GetRequiredKeyedService<RedisStampedeTier>(key));
        services.TryAddKeyedSingleton(name, static (sp, key) => new RedisStampedeLock(sp.GetRequiredKeyedService<RedisStampedeTier>(key)));
        services.RemoveAllKeyed<IStampedeLock>(name);
        services.AddKeyedSingleton<IStampedeLock>(name, static (sp, key) => sp.GetRequiredKeyedService<RedisStampedeLock>(key));
    }

    private const string DefaultKeyPrefix = "sg:";
}
