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
    /// </summary>
    /// <param name="builder">The builder from <c>AddStampedeGuard</c>.</param>
    /// <param name="configure">Configures the Redis options.</param>
    /// <returns>The builder.</returns>
    public static IStampedeGuardBuilder AddRedis(this IStampedeGuardBuilder builder, Action<RedisStampedeOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var services = builder.Services;
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
}
