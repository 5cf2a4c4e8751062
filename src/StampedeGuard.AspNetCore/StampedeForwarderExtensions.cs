using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.AspNetCore;
using StampedeGuard.AspNetCore.Forwarding;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Makes an app a caching reverse proxy (accelerator): the response caching middleware in front of a forwarding handler.</summary>
public static class StampedeForwarderExtensions
{
    /// <summary>Registers the forwarding handler.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the origin and the forwarding options.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddStampedeGuardForwarder(this IServiceCollection services, Action<StampedeForwarderOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.Configure(configure);
        services.AddSingleton<HttpForwarder>();
        return services;
    }

    /// <summary>Ends the pipeline with the forwarding handler: every method and path goes to the origin (after the cache, if it is in front).</summary>
    /// <param name="app">The application builder.</param>
    public static void RunStampedeGuardForwarder(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var forwarder = app.ApplicationServices.GetRequiredService<HttpForwarder>();
        app.Run(forwarder.ForwardAsync);
    }
}
