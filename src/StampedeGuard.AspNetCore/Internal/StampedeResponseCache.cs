using Microsoft.Extensions.Options;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Purges stored responses by URL or tag through the engine (so every tier and node sees it).</summary>
internal sealed class StampedeResponseCache(ResponseCacheEngine engine, FlightRegistry registry, IOptions<StampedeResponseCachingOptions> options) : IStampedeResponseCache
{
    private readonly CacheKeyBuilder _keys = new(options.Value);

    public ValueTask PurgeAsync(Uri url, CancellationToken cancellationToken = default)
    {
        var tag = CacheKeyBuilder.UrlTag(_keys.UrlKey(url));
        registry.InvalidateUrl(tag); // what an execution in flight fetched before the purge is not stored after it
        return engine.Cache.RemoveByTagAsync(tag, cancellationToken);
    }

    public ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        return engine.Cache.RemoveByTagAsync(tag, cancellationToken);
    }
}
