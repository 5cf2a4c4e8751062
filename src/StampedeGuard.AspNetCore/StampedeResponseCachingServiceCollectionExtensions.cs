using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
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
    /// in-memory one is used. Ages and freshness use the engine's clock (<see cref="StampedeCacheOptions.TimeProvider"/>, else a registered <see cref="TimeProvider"/>). The order of the two calls does not matter.
    /// Also makes Kestrel write response header values as Latin-1 (unless the app chose an encoding), so obs-text values
    /// copied from an origin round-trip.
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

        services.TryAddSingleton(static sp =>
        {
            var time = ResponseCacheEngine.ResolveTime(sp);
            return sp.GetService<IStampedeCache>() is { } cache
                ? new ResponseCacheEngine(cache, owned: false, time)
                : new ResponseCacheEngine(
                    new StampedeCache(new StampedeCacheOptions { TimeProvider = time }, loggerFactory: sp.GetService<ILoggerFactory>(), meterFactory: sp.GetService<IMeterFactory>()),
                    owned: true,
                    time);
        });
        // Header values copied from an origin may carry obs-text (RFC 9110 5.5: bytes 0x80-0xFF, e.g. in an ETag): write
        // them as the Latin-1 bytes they were, instead of Kestrel refusing them with a 500. An encoding the app's own selector picks wins.
        services.PostConfigure<KestrelServerOptions>(static kestrel =>
        {
            var app = kestrel.ResponseHeaderEncodingSelector;
            kestrel.ResponseHeaderEncodingSelector = name => app?.Invoke(name) ?? Encoding.Latin1;
        });
        services.TryAddSingleton(static sp => new ResponseCachingMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<FlightRegistry>();
        services.TryAddSingleton<IStampedeResponseCache, StampedeResponseCache>();
        return services;
    }
}
