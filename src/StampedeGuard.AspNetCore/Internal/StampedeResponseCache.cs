using Microsoft.Extensions.Options;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Purges stored responses by URL or tag through the engine (so every tier and node sees it).</summary>
internal sealed class StampedeResponseCache(FlightRegistry registry, IOptions<StampedeResponseCachingOptions> options) : IStampedeResponseCache
{
    private readonly CacheKeyBuilder _keys = new(options.Value);

    public async ValueTask PurgeAsync(Uri url, CancellationToken cancellationToken = default)
    {
        var tag = CacheKeyBuilder.UrlTag(_keys.UrlKey(url));
        await registry.InvalidateAsync(tag, cancellationToken).ConfigureAwait(false); // what an execution in flight fetched before the purge is not stored after it
    }

    public async ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        await registry.InvalidateAsync(tag, cancellationToken).ConfigureAwait(false);
    }
}
