namespace StampedeGuard.AspNetCore.Caching;

/// <summary>What the cache decided about a response when its header fields arrived.</summary>
internal sealed class ResponseEvaluation
{
    /// <summary>Gets or sets whether the response may be stored.</summary>
    public bool Storable { get; set; }

    /// <summary>Gets or sets whether the response may be given to the collapsed waiters of its execution.</summary>
    public bool Shareable { get; set; }

    /// <summary>Gets or sets whether the reason it is not stored belongs to the response (so the key gets a hit-for-pass marker).</summary>
    public bool HitForPass { get; set; }

    /// <summary>Gets or sets the <c>Cache-Status</c> detail token saying why it is not stored.</summary>
    public string? Reason { get; set; }

    /// <summary>Gets or sets the response to store (headers filtered, times set; body added when complete).</summary>
    public CachedResponse? Entry { get; set; }

    /// <summary>Gets or sets the selecting header names from <c>Vary</c>, lower-cased and sorted.</summary>
    public string[]? VaryHeaders { get; set; }

    /// <summary>Gets or sets the tags of the entry.</summary>
    public List<string>? Tags { get; set; }

    public static ResponseEvaluation NotStored(string reason, bool hitForPass, bool shareable) =>
        new() { Reason = reason, HitForPass = hitForPass, Shareable = shareable };
}
