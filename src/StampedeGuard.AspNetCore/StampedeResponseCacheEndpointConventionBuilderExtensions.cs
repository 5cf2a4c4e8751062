using StampedeGuard.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds StampedeGuard response caching metadata to endpoints.</summary>
public static class StampedeResponseCacheEndpointConventionBuilderExtensions
{
    /// <summary>Caches the endpoint's responses with the given policy (defaults for what the response itself does not say).</summary>
    /// <typeparam name="TBuilder">The endpoint convention builder type.</typeparam>
    /// <param name="builder">The endpoint builder.</param>
    /// <param name="configure">Sets the policy; null keeps the defaults.</param>
    /// <returns>The builder.</returns>
    public static TBuilder CacheResponses<TBuilder>(this TBuilder builder, Action<StampedeResponseCacheAttribute>? configure = null)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var policy = new StampedeResponseCacheAttribute();
        configure?.Invoke(policy);
        builder.Add(endpoint => endpoint.Metadata.Add(policy));
        return builder;
    }

    /// <summary>Disables response caching for the endpoint: its requests pass straight through.</summary>
    /// <typeparam name="TBuilder">The endpoint convention builder type.</typeparam>
    /// <param name="builder">The endpoint builder.</param>
    /// <returns>The builder.</returns>
    public static TBuilder DisableResponseCaching<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(endpoint => endpoint.Metadata.Add(new StampedeResponseCacheAttribute { Disabled = true }));
        return builder;
    }
}
