using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace StampedeGuard.AspNetCore.Caching;

/// <summary>Hop-by-hop fields (RFC 9110 7.6.1) and the other header-level rules shared by the cache and the forwarder.</summary>
internal static class HeaderRules
{
    public const string CacheStatus = "Cache-Status";
    public const string CdnCacheControl = "CDN-Cache-Control";

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
        "TE", "Trailer", "Trailers", "Transfer-Encoding", "Upgrade",
    };

    /// <summary>Returns the field names the <c>Connection</c> field lists (they are hop-by-hop too), or null.</summary>
    public static HashSet<string>? ConnectionNamed(StringValues connection)
    {
        if (StringValues.IsNullOrEmpty(connection))
        {
            return null;
        }

        HashSet<string>? names = null;
        foreach (var value in connection)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var token in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                (names ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase)).Add(token);
            }
        }

        return names;
    }

    /// <summary>The values as a non-null string array (null entries become empty strings).</summary>
    public static string[] ToArray(StringValues values)
    {
        var array = new string[values.Count];
        for (var i = 0; i < array.Length; i++)
        {
            array[i] = values[i] ?? string.Empty;
        }

        return array;
    }

    public static bool IsHopByHop(string name, HashSet<string>? connectionNamed) =>
        HopByHop.Contains(name) || (connectionNamed is not null && connectionNamed.Contains(name));

    /// <summary>Approximate wire size of a header collection.</summary>
    public static long Size(IHeaderDictionary headers)
    {
        long size = 0;
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                size += name.Length + (value?.Length ?? 0) + 4;
            }
        }

        return size;
    }

    /// <summary>Parses the field names of a <c>Vary</c> field: lower-cased, sorted, distinct; <paramref name="star"/> when it contains <c>*</c>.</summary>
    public static string[]? ParseVary(StringValues vary, out bool star)
    {
        star = false;
        if (StringValues.IsNullOrEmpty(vary))
        {
            return null;
        }

        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var value in vary)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var token in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (token == "*")
                {
                    star = true;
                }
                else
                {
                    names.Add(token.ToLowerInvariant());
                }
            }
        }

        return names.Count == 0 ? null : [.. names];
    }

    /// <summary>Parses a field holding one HTTP-date, strictly (<see cref="HttpDate"/>); false for anything else (including "0", "-1" and repeated fields).</summary>
    public static bool TryParseDate(StringValues value, DateTimeOffset now, out DateTimeOffset date)
    {
        date = default;
        return value.Count == 1 && value[0] is { } text && HttpDate.TryParse(text, now, out date);
    }

    /// <summary>
    /// Weak comparison of an entity-tag against an <c>If-None-Match</c> list (RFC 9110 13.1.2), parsed as entity-tags
    /// (<c>"a,b", "c"</c> is two tags, not three): an unparseable list matches nothing.
    /// </summary>
    public static bool IfNoneMatchMatches(StringValues ifNoneMatch, string? etag)
    {
        if (!EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags))
        {
            return false;
        }

        EntityTagHeaderValue? stored = null;
        if (etag is not null && !EntityTagHeaderValue.TryParse(etag, out stored))
        {
            stored = null;
        }

        foreach (var tag in tags)
        {
            if (tag.Tag.Equals("*", StringComparison.Ordinal) || (stored is not null && tag.Compare(stored, useStrongComparison: false)))
            {
                return true;
            }
        }

        return false;
    }
}
