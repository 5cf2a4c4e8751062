using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace StampedeGuard.AspNetCore.Caching;

/// <summary>RFC 9111 storability (section 3) and freshness (section 4.2) for a shared cache, plus RFC 5861 and RFC 9213.</summary>
internal static class StorageRules
{
    /// <summary>Status codes that are heuristically cacheable (RFC 9110 15.1).</summary>
    private static readonly HashSet<int> Heuristic = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

    /// <summary>
    /// Status codes whose caching rules this cache implements, for <c>must-understand</c> (RFC 9111 5.2.2.3): the
    /// storable ones RFC 9110 defines with no caching rule of their own beyond freshness. Not the failures (5xx other
    /// than 501), which this cache shares rather than stores, nor 206 and 304, which it never stores.
    /// </summary>
    private static readonly HashSet<int> Understood = [200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501];

    /// <summary>Picks the directives this cache obeys: our own targeted field, then CDN-Cache-Control, then Cache-Control (RFC 9213 2.1).</summary>
    public static CacheControlDirectives Directives(IHeaderDictionary headers, StampedeResponseCachingOptions options)
    {
        // Targeted fields are RFC 8941 dictionaries; one that fails to parse is ignored as if absent.
        if (options.TargetedCacheControlHeader is { } own && headers.TryGetValue(own, out var ownValue) && !StringValues.IsNullOrEmpty(ownValue)
            && CacheControlDirectives.ParseTargeted(ownValue) is { } ownDirectives)
        {
            return ownDirectives;
        }

        if (options.HonorCdnCacheControl && headers.TryGetValue(HeaderRules.CdnCacheControl, out var cdn) && !StringValues.IsNullOrEmpty(cdn)
            && CacheControlDirectives.ParseTargeted(cdn) is { } cdnDirectives)
        {
            return cdnDirectives;
        }

        return CacheControlDirectives.Parse(headers.CacheControl);
    }

    /// <summary>
    /// Whether and how a response is stored and shared. <see cref="ResponseEvaluation.VaryHeaders"/> is the response's
    /// parsed <c>Vary</c> whatever the outcome (a shared response that is not stored still selects its waiters by it):
    /// the one place it is parsed.
    /// </summary>
    public static ResponseEvaluation Evaluate(
        int status,
        IHeaderDictionary headers,
        bool requestHadAuthorization,
        DateTimeOffset requestTime,
        DateTimeOffset responseTime,
        StampedeResponseCachingOptions options,
        StampedeResponseCacheAttribute? policy)
    {
        var vary = HeaderRules.ParseVary(headers.Vary, out var varyStar);
        var evaluation = Evaluate(status, headers, vary, varyStar, requestHadAuthorization, requestTime, responseTime, options, policy);
        evaluation.VaryHeaders ??= vary;
        return evaluation;
    }

    private static ResponseEvaluation Evaluate(
        int status,
        IHeaderDictionary headers,
        string[]? vary,
        bool varyStar,
        bool requestHadAuthorization,
        DateTimeOffset requestTime,
        DateTimeOffset responseTime,
        StampedeResponseCachingOptions options,
        StampedeResponseCacheAttribute? policy)
    {
        if (status < 200 || status == StatusCodes.Status206PartialContent || status == StatusCodes.Status304NotModified)
        {
            return ResponseEvaluation.NotStored("status", hitForPass: false, shareable: false);
        }

        // A 5xx is a failure, not a property of the URL: whatever its headers say, it never sets a hit-for-pass marker
        // (that would turn an outage into a stampede, Squid bug 1918), and it is shared with the execution's waiters
        // unless it is private to the requester.
        var isServerError = status >= 500;
        var hitForPass = !isServerError;
        var cc = Directives(headers, options);
        if (cc.MustUnderstand && !Understood.Contains(status))
        {
            // RFC 9111 5.2.2.3: a status this cache does not understand is not stored.
            return ResponseEvaluation.NotStored(cc.NoStore ? "no-store" : "status", hitForPass, shareable: isServerError);
        }

        // With must-understand and an understood status, no-store (the fallback for caches without must-understand) is ignored.
        if (cc.NoStore && !cc.MustUnderstand)
        {
            return ResponseEvaluation.NotStored("no-store", hitForPass, shareable: isServerError);
        }

        if (cc.Private)
        {
            return ResponseEvaluation.NotStored("private", hitForPass, shareable: false);
        }

        if (headers.ContainsKey(HeaderNames.SetCookie) && !options.StoreResponsesWithSetCookie)
        {
            return ResponseEvaluation.NotStored("set-cookie", hitForPass, shareable: false);
        }

        if (varyStar)
        {
            return ResponseEvaluation.NotStored("vary-star", hitForPass, shareable: false);
        }

        if (requestHadAuthorization && !(cc.Public || cc.SharedMaxAge is not null || cc.MustRevalidate))
        {
            // RFC 9111 3.5: the response to an authenticated request is not shared unless it says so. Not a property
            // of the URL (an anonymous request may get a shareable response), so no hit-for-pass marker.
            return ResponseEvaluation.NotStored("authorization", hitForPass: false, shareable: false);
        }

        if (HeaderRules.Size(headers) > options.MaximumHeaderBytes)
        {
            return ResponseEvaluation.NotStored("headers-too-large", hitForPass, shareable: true);
        }

        if (headers.ContentLength is { } length && length > options.MaximumBodySize)
        {
            return ResponseEvaluation.NotStored("too-large", hitForPass, shareable: true);
        }

        // Date: kept; a missing or invalid one is replaced by the time the response arrived (RFC 9110 6.6.1).
        var hasDate = HeaderRules.TryParseDate(headers.Date, responseTime, out var date);
        if (!hasDate)
        {
            date = responseTime;
        }

        // Freshness lifetime (RFC 9111 4.2.1): s-maxage, then max-age, then Expires minus Date, then heuristics.
        TimeSpan? lifetime = null;
        var noStale = cc.MustRevalidate || cc.ProxyRevalidate;
        if (cc.SharedMaxAge is { } sMaxAge)
        {
            lifetime = sMaxAge;
            noStale = true; // s-maxage implies proxy-revalidate (RFC 9111 5.2.2.10)
        }
        else if (cc.MaxAge is { } maxAge)
        {
            lifetime = maxAge;
        }
        else if (headers.ContainsKey(HeaderNames.Expires))
        {
            // An invalid Expires (e.g. "0") means already expired (RFC 9111 5.3).
            lifetime = HeaderRules.TryParseDate(headers.Expires, responseTime, out var expires) && expires > date ? expires - date : TimeSpan.Zero;
        }

        // Age (RFC 9111 5.1): the first member of the first line; an invalid one is ignored.
        var ageValue = ParseAge(headers.Age);
        if (cc.InvalidFreshness)
        {
            lifetime = TimeSpan.Zero;
        }

        var hasLastModified = HeaderRules.TryParseDate(headers.LastModified, responseTime, out var lastModified);
        if (lifetime is null && cc.NoCache)
        {
            lifetime = TimeSpan.Zero; // stored only to be revalidated
        }

        if (lifetime is null)
        {
            // Without explicit freshness only heuristically cacheable statuses (RFC 9110 15.1) may be stored: never a
            // 502/503/504 (RFC 9111 4.2.2). Short negative caching covers the heuristic error statuses only.
            var heuristicStatus = Heuristic.Contains(status);
            if (!heuristicStatus && isServerError)
            {
                return ResponseEvaluation.NotStored("server-error", hitForPass: false, shareable: true);
            }

            if (heuristicStatus && status >= 400 && options.NegativeCacheDuration > TimeSpan.Zero)
            {
                lifetime = options.NegativeCacheDuration;
            }
            else if (policy?.Duration is { } endpointDuration)
            {
                lifetime = endpointDuration;
            }
            else if (options.DefaultFreshness is { } defaultFreshness)
            {
                lifetime = defaultFreshness;
            }
            else if (hasLastModified && heuristicStatus && options.HeuristicFreshnessLimit > TimeSpan.Zero && date > lastModified)
            {
                var tenth = TimeSpan.FromTicks((date - lastModified).Ticks / 10);
                lifetime = tenth < options.HeuristicFreshnessLimit ? tenth : options.HeuristicFreshnessLimit;
            }
            else
            {
                return ResponseEvaluation.NotStored("no-freshness", hitForPass, shareable: true);
            }
        }

        if (cc.NoCache)
        {
            // Store, but never reuse without revalidation (RFC 9111 5.2.2.4).
            lifetime = TimeSpan.Zero;
            noStale = true;
        }

        var swr = noStale ? TimeSpan.Zero : cc.StaleWhileRevalidate ?? policy?.StaleWhileRevalidate ?? options.StaleWhileRevalidate;
        var sie = noStale ? TimeSpan.Zero : cc.StaleIfError ?? policy?.StaleIfError ?? options.StaleIfError;
        var hasValidator = headers.ContainsKey(HeaderNames.ETag) || hasLastModified;
        if (lifetime <= TimeSpan.Zero && !hasValidator && swr <= TimeSpan.Zero && sie <= TimeSpan.Zero)
        {
            return ResponseEvaluation.NotStored(cc.NoCache ? "no-cache" : "stale", hitForPass, shareable: true);
        }

        // Age (RFC 9111 4.2.3).
        var apparent = responseTime - date;
        if (apparent < TimeSpan.Zero)
        {
            apparent = TimeSpan.Zero;
        }

        var delay = responseTime - requestTime;
        var correctedAge = ageValue + (delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
        var initialAge = apparent > correctedAge ? apparent : correctedAge;

        var entry = new CachedResponse
        {
            Kind = CachedResponseKind.Response,
            StatusCode = status,
            ResponseTime = responseTime,
            InitialAge = initialAge,
            FreshnessLifetime = lifetime.Value,
            StaleWhileRevalidate = swr,
            StaleIfError = sie,
            NoStaleServing = noStale,
        };
        CopyStoredHeaders(headers, entry.Headers, cc, options);
        if (!hasDate)
        {
            entry.Headers[HeaderNames.Date] = [HeaderUtilities.FormatDate(responseTime)];
        }

        var tags = policy?.Tags is { Length: > 0 } t ? new List<string>(t) : null;
        if (options.TagsHeader is { } tagsHeader && headers.TryGetValue(tagsHeader, out var tagValues))
        {
            foreach (var value in tagValues)
            {
                foreach (var tag in (value ?? string.Empty).Split([' ', ','], StringSplitOptions.RemoveEmptyEntries))
                {
                    (tags ??= []).Add(tag);
                }
            }
        }

        return new ResponseEvaluation { Storable = true, Shareable = true, Entry = entry, VaryHeaders = vary, Tags = tags };
    }

    /// <summary>
    /// Reads <c>Age</c> as RFC 9111 5.1 says: a list-based value uses its first member, a repeated field its first line,
    /// and a value that is not delta-seconds (<c>abc</c>, <c>-7200</c>, <c>7200.0</c>) is ignored ("a cache SHOULD ignore
    /// the field"): zero, as if absent. Parameters after the number (<c>7200;foo=bar</c>) do not hide it: the number counts.
    /// </summary>
    public static TimeSpan ParseAge(StringValues age)
    {
        if (age.Count == 0 || age[0] is not { } first)
        {
            return TimeSpan.Zero;
        }

        var end = first.AsSpan().IndexOfAny(',', ';');
        var member = (end < 0 ? first : first[..end]).Trim(' ', '\t');
        return CacheControlDirectives.TryParseDelta(member, out var value) ? value : TimeSpan.Zero;
    }

    /// <summary>Copies the fields worth storing: not hop-by-hop, not named by Connection, not per-hop caching metadata.</summary>
    public static void CopyStoredHeaders(IHeaderDictionary source, Dictionary<string, string[]> target, CacheControlDirectives cc, StampedeResponseCachingOptions options)
    {
        var connectionNamed = HeaderRules.ConnectionNamed(source.Connection);
        foreach (var (name, values) in source)
        {
            if (HeaderRules.IsHopByHop(name, connectionNamed) || IsNotStored(name, options)
                || (cc.PrivateFields?.Contains(name, StringComparer.OrdinalIgnoreCase) ?? false)
                || (cc.NoCacheFields?.Contains(name, StringComparer.OrdinalIgnoreCase) ?? false))
            {
                continue;
            }

            target[name] = HeaderRules.ToArray(values);
        }
    }

    /// <summary>Fields never stored: Age (recomputed), Cache-Status (ours is recomputed), our targeted field, the tags field; Set-Cookie unless storing it is opted in.</summary>
    public static bool IsNotStored(string name, StampedeResponseCachingOptions options) =>
        name.Equals(HeaderNames.Age, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderRules.CacheStatus, StringComparison.OrdinalIgnoreCase)
        || (!options.StoreResponsesWithSetCookie && name.Equals(HeaderNames.SetCookie, StringComparison.OrdinalIgnoreCase))
        || IsPrivateToThisCache(name, options);

    /// <summary>Fields addressed to this cache only, never shown to clients.</summary>
    public static bool IsPrivateToThisCache(string name, StampedeResponseCachingOptions options) =>
        (options.TargetedCacheControlHeader is { } own && name.Equals(own, StringComparison.OrdinalIgnoreCase))
        || (options.TagsHeader is { } tags && name.Equals(tags, StringComparison.OrdinalIgnoreCase));

    /// <summary>Merges a 304's fields into a copy of the stored response (RFC 9111 3.2, 4.3.4).</summary>
    public static CachedResponse Merge(CachedResponse stored, int status, IHeaderDictionary notModified, DateTimeOffset requestTime, DateTimeOffset responseTime, StampedeResponseCachingOptions options, StampedeResponseCacheAttribute? policy)
    {
        var headers = new HeaderDictionary();
        foreach (var (name, values) in stored.Headers)
        {
            headers[name] = values;
        }

        var connectionNamed = HeaderRules.ConnectionNamed(notModified.Connection);
        foreach (var (name, values) in notModified)
        {
            if (!HeaderRules.IsHopByHop(name, connectionNamed) && !name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase))
            {
                headers[name] = values;
            }
        }

        if (!notModified.ContainsKey(HeaderNames.Date))
        {
            headers[HeaderNames.Date] = HeaderUtilities.FormatDate(responseTime); // the 304 is the newest response (RFC 9110 6.6.1)
        }

        headers.Remove(HeaderNames.Age);
        if (notModified.TryGetValue(HeaderNames.Age, out var age))
        {
            headers[HeaderNames.Age] = age;
        }

        var evaluation = Evaluate(stored.StatusCode, headers, requestHadAuthorization: false, requestTime, responseTime, options, policy);
        var merged = evaluation.Entry ?? new CachedResponse
        {
            StatusCode = stored.StatusCode,
            ResponseTime = responseTime,
            FreshnessLifetime = TimeSpan.Zero,
            NoStaleServing = true,
        };
        if (evaluation.Entry is null)
        {
            CopyStoredHeaders(headers, merged.Headers, CacheControlDirectives.Empty, options);
        }

        merged.Body = stored.Body;
        return merged;
    }
}
