using Microsoft.Extensions.Options;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Purges stored responses by URL or tag through the engine (so every tier and node sees it).</summary>
internal sealed class StampedeResponseCache(ResponseCacheEngine engine, FlightRegistry registry, IOptions<StampedeResponseCachingOptions> options) : IStampedeResponseCache
{
    private readonly CacheKeyBuilder _keys = new(options.Value);

    public async ValueTask PurgeAsync(Uri url, CancellationToken cancellationToken = default)
    {
        var tag = CacheKeyBuilder.UrlTag(_keys.UrlKey(url));
        await registry.PurgeAsync(tag).ConfigureAwait(false); // what an execution in flight fetched before the purge is not stored after it
        await engine.Cache.RemoveByTagAsync(tag, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        await registry.PurgeAsync(tag).ConfigureAwait(false);
        await engine.Cache.RemoveByTagAsync(tag, cancellationToken).ConfigureAwait(false);
    }
}
