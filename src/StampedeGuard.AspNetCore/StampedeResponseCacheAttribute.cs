namespace StampedeGuard.AspNetCore;

/// <summary>
/// Per-endpoint caching policy, read from endpoint metadata: put it on a controller or action, or add it to a minimal
/// API endpoint with <c>.CacheResponses(...)</c>. It sets defaults for what the response does not say itself; the
/// response's own caching headers still decide storability (a <c>private</c> response is never shared).
/// Durations are in seconds because attribute arguments cannot be <see cref="TimeSpan"/>; negative means unset.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class StampedeResponseCacheAttribute : Attribute
{
    /// <summary>Gets or sets whether caching is disabled for the endpoint: requests pass straight through (<c>fwd=bypass</c>).</summary>
    /// <value>Default false.</value>
    public bool Disabled { get; set; }

    /// <summary>Gets or sets the freshness lifetime, in seconds, for responses without an explicit one.</summary>
    /// <value>Default -1 (unset: <see cref="StampedeResponseCachingOptions.DefaultFreshness"/>).</value>
    public int DurationSeconds { get; set; } = -1;

    /// <summary>Gets or sets the stale-while-revalidate window, in seconds, when the response has none.</summary>
    /// <value>Default -1 (unset).</value>
    public int StaleWhileRevalidateSeconds { get; set; } = -1;

    /// <summary>Gets or sets the stale-if-error window, in seconds, when the response has none.</summary>
    /// <value>Default -1 (unset).</value>
    public int StaleIfErrorSeconds { get; set; } = -1;

    /// <summary>Gets or sets tags given to the endpoint's stored responses.</summary>
    /// <value>Default none.</value>
    public string[]? Tags { get; set; }

    /// <summary>Gets or sets request headers that always take part in the key for this endpoint (in addition to the response's <c>Vary</c>).</summary>
    /// <value>Default none.</value>
    public string[]? VaryByHeaders { get; set; }

    internal TimeSpan? Duration => DurationSeconds > 0 ? TimeSpan.FromSeconds(DurationSeconds) : null;

    internal TimeSpan? StaleWhileRevalidate => StaleWhileRevalidateSeconds >= 0 ? TimeSpan.FromSeconds(StaleWhileRevalidateSeconds) : null;

    internal TimeSpan? StaleIfError => StaleIfErrorSeconds >= 0 ? TimeSpan.FromSeconds(StaleIfErrorSeconds) : null;
}
