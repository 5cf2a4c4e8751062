namespace StampedeGuard.AspNetCore;

/// <summary>Invalidates cached HTTP responses from application code (register with <c>AddStampedeGuardResponseCaching</c>).</summary>
public interface IStampedeResponseCache
{
    /// <summary>
    /// Removes every stored response for an absolute URL: all its <c>Vary</c> variants and its hit-for-pass marker, in every
    /// tier and, through the backplane, on every node. The query is normalised as the middleware normalises it.
    /// </summary>
    /// <param name="url">The absolute URL (scheme, host, path and query).</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the URL is purged.</returns>
    /// <exception cref="ArgumentException"><paramref name="url"/> is not absolute.</exception>
    ValueTask PurgeAsync(Uri url, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes every stored response tagged with <paramref name="tag"/> (tags come from endpoint metadata and from the
    /// response header named by <see cref="StampedeResponseCachingOptions.TagsHeader"/>).
    /// </summary>
    /// <param name="tag">The tag.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the tag is invalidated.</returns>
    ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default);
}
