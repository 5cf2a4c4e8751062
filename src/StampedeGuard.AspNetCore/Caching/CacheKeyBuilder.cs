using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;

namespace StampedeGuard.AspNetCore.Caching;

/// <summary>
/// Builds the engine keys. A URL key is <c>prefix GET|scheme|host[:port]|path|query</c> (HEAD shares GET's key); the
/// primary key adds the keyed request headers that are present; a variant key adds the generation of the URL's vary
/// marker and the values of the selecting headers. Keys longer than <see cref="MaxKeyLength"/> are replaced by a SHA-256.
/// </summary>
internal sealed class CacheKeyBuilder(StampedeResponseCachingOptions options)
{
    public const int MaxKeyLength = 512;

    /// <summary>
    /// Request fields whose values are case-insensitive throughout, so a variant key lower-cases them: language ranges
    /// (RFC 9110 12.5.4, RFC 4647 2.1: <c>en-US</c> is <c>en-us</c>), content-codings (RFC 9110 8.4.1), charsets (RFC 9110 8.3.2).
    /// </summary>
    private static readonly HashSet<string> CaseInsensitiveValues = new(StringComparer.OrdinalIgnoreCase) { "Accept-Language", "Accept-Encoding", "Accept-Charset" };

    public string UrlKey(HttpRequest request)
    {
        var scheme = request.Scheme.ToLowerInvariant(); // no allocation when already lower-case
        var host = request.Host;
        var hostText = host.Port is { } port && ((port == 80 && scheme == "http") || (port == 443 && scheme == "https"))
            ? (host.Host ?? string.Empty).ToLowerInvariant()
            : (host.Value ?? string.Empty).ToLowerInvariant();
        var path = request.PathBase.HasValue ? (request.PathBase + request.Path).ToUriComponent() : request.Path.ToUriComponent();
        if (!request.QueryString.HasValue || options.QueryKeyMode == QueryKeyMode.Ignore)
        {
            return $"{options.KeyPrefix}GET|{scheme}|{hostText}|{path}|"; // the hot path: one allocation
        }

        var sb = new StringBuilder(128);
        sb.Append(options.KeyPrefix).Append("GET|").Append(scheme).Append('|').Append(hostText).Append('|').Append(path).Append('|');
        AppendQuery(sb, request.QueryString);
        return sb.ToString();
    }

    public string UrlKey(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.IsAbsoluteUri)
        {
            throw new ArgumentException("The URL must be absolute.", nameof(url));
        }

        var sb = new StringBuilder(128);
        sb.Append(options.KeyPrefix).Append("GET|").Append(url.Scheme.ToLowerInvariant()).Append('|');
        AppendHost(sb, url.Scheme, url.IsDefaultPort ? new HostString(url.Host) : new HostString(url.Host, url.Port));
        sb.Append('|').Append(new PathString(Uri.UnescapeDataString(url.AbsolutePath)).ToUriComponent()).Append('|');
        AppendQuery(sb, new QueryString(url.Query));
        return sb.ToString();
    }

    public string PrimaryKey(string urlKey, HttpRequest request, StampedeResponseCacheAttribute? policy)
    {
        // Collect the keyed headers present, then sort: set iteration order is not stable across processes.
        List<string>? present = null;
        foreach (var name in options.KeyedRequestHeaders)
        {
            if (request.Headers.ContainsKey(name))
            {
                (present ??= []).Add(name.ToLowerInvariant());
            }
        }

        if (policy?.VaryByHeaders is { } extra)
        {
            foreach (var name in extra)
            {
                if (request.Headers.ContainsKey(name))
                {
                    (present ??= []).Add(name.ToLowerInvariant());
                }
            }
        }

        if (present is null)
        {
            return Bound(urlKey);
        }

        present.Sort(StringComparer.Ordinal);
        var sb = new StringBuilder(urlKey);
        string? previous = null;
        foreach (var name in present)
        {
            if (name != previous)
            {
                sb.Append("|h:").Append(name).Append('=').Append(NormalizedValue(request.Headers, name));
            }

            previous = name;
        }

        return Bound(sb.ToString());
    }

    public static string VariantKey(string primaryKey, CachedResponse marker, IHeaderDictionary requestHeaders)
    {
        var sb = new StringBuilder(primaryKey.Length + 64);
        sb.Append(primaryKey).Append("|v:").Append(marker.VaryId);
        foreach (var name in marker.VaryHeaders ?? [])
        {
            sb.Append('|').Append(name).Append('=').Append(NormalizedValue(requestHeaders, name));
        }

        return Bound(sb.ToString());
    }

    /// <summary>
    /// The selecting header's value after normalisation (RFC 9111 4.1): values joined, spaces around commas removed, and
    /// escaped so that no value can forge the key's structure: <c>%</c>, <c>|</c> and control characters become
    /// <c>%XX</c>. An absent header is a lone <c>%</c>, which no escaped value can be, so absent differs from empty.
    /// Fields whose values are case-insensitive tokens (<see cref="CaseInsensitiveValues"/>) are lower-cased.
    /// </summary>
    public static string NormalizedValue(IHeaderDictionary headers, string name)
    {
        if (!headers.TryGetValue(name, out var values) || values.Count == 0)
        {
            return "%";
        }

        var lowerCase = CaseInsensitiveValues.Contains(name);

        var sb = new StringBuilder();
        var first = true;
        foreach (var value in values)
        {
            foreach (var part in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries))
            {
                if (!first)
                {
                    sb.Append(',');
                }

                first = false;
                foreach (var c in part)
                {
                    if (c is '%' or '|' or < ' ' or '\u007f')
                    {
                        sb.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(lowerCase ? char.ToLowerInvariant(c) : c);
                    }
                }
            }
        }

        return sb.ToString();
    }

    public static string UrlTag(string urlKey) => "sg-url:" + Hash(urlKey);

    /// <summary>The key itself when the engine accepts it as it is, otherwise its hash (too long, or a character a key may not carry).</summary>
    public static string Bound(string key) => StampedeKeys.IsValid(key, MaxKeyLength) ? key : "sg-http#" + Hash(key);

    private static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static void AppendHost(StringBuilder sb, string scheme, HostString host)
    {
        sb.Append((host.Host ?? string.Empty).ToLowerInvariant());
        if (host.Port is { } port && !(port == 80 && scheme.Equals("http", StringComparison.OrdinalIgnoreCase)) && !(port == 443 && scheme.Equals("https", StringComparison.OrdinalIgnoreCase)))
        {
            sb.Append(':').Append(port);
        }
    }

    private void AppendQuery(StringBuilder sb, QueryString query)
    {
        if (!query.HasValue || options.QueryKeyMode == QueryKeyMode.Ignore)
        {
            return;
        }

        if (options.QueryKeyMode == QueryKeyMode.Exact)
        {
            sb.Append(query.Value);
            return;
        }

        var parsed = QueryHelpers.ParseNullableQuery(query.Value);
        if (parsed is null)
        {
            return;
        }

        var first = true;
        foreach (var name in parsed.Keys.OrderBy(k => k, StringComparer.Ordinal))
        {
            if (options.QueryKeyMode == QueryKeyMode.AllowList && !options.QueryKeys.Contains(name))
            {
                continue;
            }

            foreach (var value in parsed[name])
            {
                sb.Append(first ? '?' : '&').Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(value ?? string.Empty));
                first = false;
            }
        }
    }
}
