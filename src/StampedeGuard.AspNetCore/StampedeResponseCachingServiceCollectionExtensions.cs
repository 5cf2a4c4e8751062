using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StampedeGuard;
using StampedeGuard.AspNetCore;
using StampedeGuard.AspNetCore.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers StampedeGuard response caching.</summary>
public static class StampedeResponseCachingServiceCollectionExtensions
{
    /// <summary>
    /// Registers the response caching middleware's services and <see cref="IStampedeResponseCache"/>. Responses are
    /// stored through the registered <see cref="IStampedeCache"/>: call <c>AddStampedeGuard(...)</c> to configure it (a
    /// distributed tier makes stored responses and collapsing shared by every instance); when none is registered, an
    /// in-memory one using <see cref="StampedeResponseCachingOptions.TimeProvider"/> is used. The order of the two calls does not matter.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures the options; null keeps the defaults.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddStampedeGuardResponseCaching(this IServiceCollection services, Action<StampedeResponseCachingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<StampedeResponseCachingOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(static sp => sp.GetService<IStampedeCache>() is { } cache
            ? new ResponseCacheEngine(cache, owned: false)
            : new ResponseCacheEngine(
                new StampedeCache(
                    new StampedeCacheOptions { TimeProvider = sp.GetRequiredService<IOptions<StampedeResponseCachingOptions>>().Value.TimeProvider },
                    loggerFactory: sp.GetService<ILoggerFactory>(),
                    meterFactory: sp.GetService<IMeterFactory>()),
                owned: true));
        services.TryAddSingleton(static sp => new ResponseCachingMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<FlightRegistry>();
        services.TryAddSingleton<IStampedeResponseCache, StampedeResponseCache>();
        return services;
    }
}
