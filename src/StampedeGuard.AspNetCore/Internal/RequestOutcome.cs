namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Why a request went forward to the origin: the <c>fwd</c> parameter of <c>Cache-Status</c> (RFC 9211 2.2).</summary>
internal enum Forward
{
    /// <summary>The cache was configured not to handle the request (disabled endpoint, upgrade, range, hit-for-pass).</summary>
    Bypass,

    /// <summary>The request method is not cacheable.</summary>
    Method,

    /// <summary>Nothing stored for the URL.</summary>
    UriMiss,

    /// <summary>Something stored for the URL, but not for this request's selecting header values.</summary>
    VaryMiss,

    /// <summary>Not found, for a reason the other values do not name.</summary>
    Miss,

    /// <summary>The request's own directives made the cache go forward (no-cache, max-age=0).</summary>
    Request,

    /// <summary>A stored response was stale.</summary>
    Stale,
}

/// <summary>What the response cache did with one request: the <c>stampedeguard.result</c> tag of <c>stampedeguard.http.requests</c>.</summary>
internal enum RequestResult
{
    /// <summary>Answered from a fresh stored response.</summary>
    Hit,

    /// <summary>Answered from a stale stored response (stale-while-revalidate, max-stale).</summary>
    Stale,

    /// <summary>Led an origin execution.</summary>
    Miss,

    /// <summary>Joined another request's origin execution.</summary>
    Collapsed,

    /// <summary>Went to the origin on its own, uncollapsed, because of what it or the stored state asked for.</summary>
    Pass,

    /// <summary>Not handled by the cache at all (disabled, upgrade, range, hit-for-pass).</summary>
    Bypass,

    /// <summary>A method the cache does not store.</summary>
    Method,
}

/// <summary>The one place the typed outcomes become the strings on the wire and on the metric.</summary>
internal static class RequestOutcome
{
    /// <summary>The <c>fwd</c> token (RFC 9211 2.2).</summary>
    public static string Token(this Forward forward) => forward switch
    {
        Forward.Bypass => "bypass",
        Forward.Method => "method",
        Forward.UriMiss => "uri-miss",
        Forward.VaryMiss => "vary-miss",
        Forward.Miss => "miss",
        Forward.Request => "request",
        Forward.Stale => "stale",
        _ => throw new ArgumentOutOfRangeException(nameof(forward), forward, null),
    };

    /// <summary>The metric tag value.</summary>
    public static string Tag(this RequestResult result) => result switch
    {
        RequestResult.Hit => "hit",
        RequestResult.Stale => "stale",
        RequestResult.Miss => "miss",
        RequestResult.Collapsed => "collapsed",
        RequestResult.Pass => "pass",
        RequestResult.Bypass => "bypass",
        RequestResult.Method => "method",
        _ => throw new ArgumentOutOfRangeException(nameof(result), result, null),
    };
}
