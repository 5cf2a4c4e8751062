using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>What the lookup learned that an origin execution needs: its keys, the stale entry and vary marker, the endpoint policy.</summary>
internal sealed class MissPlan
{
    public required string UrlKey { get; init; }

    public required string UrlTag { get; init; }

    /// <summary>Gets what log messages name the URL by: its hash tag (a full URL can carry user data).</summary>
    public string LogKey => UrlTag;

    public required string PrimaryKey { get; init; }

    public required string FlightKey { get; init; }

    /// <summary>Gets the URL's vary marker, when one was found.</summary>
    public CachedResponse? Marker { get; init; }

    /// <summary>Gets the stored response found stale (for revalidation and stale-if-error).</summary>
    public CachedResponse? Stale { get; init; }

    public StampedeResponseCacheAttribute? Policy { get; init; }

    public bool RequestHadAuthorization { get; init; }

    /// <summary>Gets whether the origin must be asked even if the engine holds a fresh value (client bypass).</summary>
    public bool ForceOrigin { get; init; }

    /// <summary>Gets the <c>fwd</c> value of this miss for <c>Cache-Status</c>.</summary>
    public required Forward Fwd { get; init; }

    /// <summary>
    /// The stale response that may answer a failed or timed-out origin execution (RFC 5861 4, stale-if-error): the
    /// stale entry, unless it forbids stale serving or is past its stale-if-error window; otherwise null.
    /// </summary>
    /// <param name="now">The current time.</param>
    /// <returns>The stale entry to serve, or null.</returns>
    public CachedResponse? StaleOnError(DateTimeOffset now)
    {
        if (Stale is not { NoStaleServing: false } stale)
        {
            return null;
        }

        var ttl = stale.TimeToLive(now);
        return ttl > TimeSpan.Zero || -ttl < stale.StaleIfError ? stale : null;
    }
}
