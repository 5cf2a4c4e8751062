using System.Text.Json.Serialization;

namespace StampedeGuard.AspNetCore.Caching;

/// <summary>
/// A stored HTTP response as the engine keeps it (in memory, and serialized with System.Text.Json for the distributed
/// tier): status, header fields without hop-by-hop fields, body, and the times RFC 9111's age calculation needs.
/// Also used for the vary marker and the hit-for-pass marker. Treated as immutable once stored.
/// </summary>
internal sealed class CachedResponse
{
    public CachedResponseKind Kind { get; set; }

    public int StatusCode { get; set; }

    public Dictionary<string, string[]> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public byte[]? Body { get; set; }

    /// <summary>Gets or sets when the response was received (RFC 9111 response_time).</summary>
    public DateTimeOffset ResponseTime { get; set; }

    /// <summary>Gets or sets the corrected initial age (RFC 9111 4.2.3).</summary>
    public TimeSpan InitialAge { get; set; }

    /// <summary>Gets or sets the freshness lifetime (RFC 9111 4.2.1); zero when it must be revalidated before every use.</summary>
    public TimeSpan FreshnessLifetime { get; set; }

    public TimeSpan StaleWhileRevalidate { get; set; }

    public TimeSpan StaleIfError { get; set; }

    /// <summary>Gets or sets whether the response may never be served stale (must-revalidate, proxy-revalidate, s-maxage, no-cache).</summary>
    public bool NoStaleServing { get; set; }

    /// <summary>Gets or sets, for a vary marker, the lower-cased selecting header names, sorted.</summary>
    public string[]? VaryHeaders { get; set; }

    /// <summary>Gets or sets, for a vary marker, the generation its variants are keyed under.</summary>
    public string? VaryId { get; set; }

    /// <summary>Gets or sets why a hit-for-pass marker was set (for <c>Cache-Status</c>'s detail).</summary>
    public string? Reason { get; set; }

    [JsonIgnore]
    public string? ETag => Header(Microsoft.Net.Http.Headers.HeaderNames.ETag);

    [JsonIgnore]
    public string? LastModified => Header(Microsoft.Net.Http.Headers.HeaderNames.LastModified);

    public string? Header(string name) =>
        Headers.TryGetValue(name, out var values) && values.Length > 0 ? values[0] : null;

    public TimeSpan CurrentAge(DateTimeOffset now)
    {
        var resident = now - ResponseTime;
        var age = InitialAge + (resident > TimeSpan.Zero ? resident : TimeSpan.Zero);
        return age;
    }

    /// <summary>Gets freshness lifetime minus current age: positive while fresh.</summary>
    public TimeSpan TimeToLive(DateTimeOffset now) => FreshnessLifetime - CurrentAge(now);

    public static CachedResponse HitForPass(string reason) => new() { Kind = CachedResponseKind.HitForPass, Reason = reason };

    /// <summary>The cache's own <c>504 Gateway Timeout</c> (never stored, never served stale) for clients it stops waiting for.</summary>
    /// <param name="now">The current time.</param>
    /// <returns>An empty 504 with <c>Cache-Control: no-store</c>.</returns>
    public static CachedResponse GatewayTimeout(DateTimeOffset now)
    {
        var response = new CachedResponse { Kind = CachedResponseKind.Response, StatusCode = 504, ResponseTime = now, NoStaleServing = true };
        response.Headers[Microsoft.Net.Http.Headers.HeaderNames.CacheControl] = ["no-store"];
        return response;
    }
}
