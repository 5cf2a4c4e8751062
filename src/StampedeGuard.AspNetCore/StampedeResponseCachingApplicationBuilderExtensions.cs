using StampedeGuard.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds StampedeGuard response caching to a pipeline.</summary>
public static class StampedeResponseCachingApplicationBuilderExtensions
{
    /// <summary>
    /// Adds the response caching middleware. Place it after routing (to read endpoint metadata) and authentication
    /// (background revalidations reuse the user), before the endpoints or the forwarder it caches. Requires
    /// <c>services.AddStampedeGuardResponseCaching()</c>.
    /// </summary>
    /// <param name="app">The application builder.</param>
    /// <returns>The application builder.</returns>
    public static IApplicationBuilder UseStampedeGuardResponseCaching(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseMiddleware<StampedeResponseCachingMiddleware>();
    }
}
