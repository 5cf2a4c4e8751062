using Microsoft.Extensions.Primitives;

namespace StampedeGuard.AspNetCore.Caching;

/// <summary>
/// The parsed directives of a <c>Cache-Control</c> (or targeted) field. Lenient: unknown directives are ignored, a
/// malformed or conflicting freshness value makes the response stale (RFC 9111 4.2.1, 1.2.2), delta-seconds overflow
/// is clamped to 2^31 seconds.
/// </summary>
internal sealed class CacheControlDirectives
{
    private const long MaxDeltaSeconds = 2147483648;

    public static readonly CacheControlDirectives Empty = new();

    public bool Present { get; private set; }

    public bool NoStore { get; private set; }

    public bool NoCache { get; private set; }

    public List<string>? NoCacheFields { get; private set; }

    public bool Private { get; private set; }

    public List<string>? PrivateFields { get; private set; }

    public bool Public { get; private set; }

    public bool MustRevalidate { get; private set; }

    public bool ProxyRevalidate { get; private set; }

    public bool OnlyIfCached { get; private set; }

    /// <summary>Gets a response's <c>must-understand</c> (RFC 9111 5.2.2.3): store only a status code whose caching rules the cache implements, and then ignore <c>no-store</c>.</summary>
    public bool MustUnderstand { get; private set; }

    public TimeSpan? MaxAge { get; private set; }

    public TimeSpan? SharedMaxAge { get; private set; }

    public TimeSpan? StaleWhileRevalidate { get; private set; }

    public TimeSpan? StaleIfError { get; private set; }

    /// <summary>Gets a request's <c>min-fresh</c> (RFC 9111 5.2.1.3).</summary>
    public TimeSpan? MinFresh { get; private set; }

    /// <summary>Gets a request's <c>max-stale</c> (RFC 9111 5.2.1.2); <see cref="TimeSpan.MaxValue"/> when it has no value (any staleness).</summary>
    public TimeSpan? MaxStale { get; private set; }

    /// <summary>Gets whether a freshness directive (max-age, s-maxage) was malformed or repeated with different values.</summary>
    public bool InvalidFreshness { get; private set; }

    public static CacheControlDirectives Parse(StringValues values)
    {
        if (StringValues.IsNullOrEmpty(values))
        {
            return Empty;
        }

        var result = new CacheControlDirectives { Present = true };
        foreach (var value in values)
        {
            if (!string.IsNullOrEmpty(value))
            {
                result.ParseOne(value);
            }
        }

        return result;
    }

    /// <summary>
    /// Parses a targeted field (RFC 9213 2.1: <c>CDN-Cache-Control</c>, this cache's own): an RFC 8941 dictionary. Null
    /// when the field does not parse (the caller ignores it entirely and falls back to <c>Cache-Control</c>). A member of
    /// the wrong type (<c>max-age="10"</c>, <c>no-store=3</c>) is not used; <c>private</c> and <c>no-cache</c> take a boolean
    /// or an inner list of field-name strings.
    /// </summary>
    public static CacheControlDirectives? ParseTargeted(StringValues values)
    {
        if (StructuredDictionary.TryParse(values) is not { } members)
        {
            return null;
        }

        var result = new CacheControlDirectives { Present = true };
        foreach (var (name, item) in members)
        {
            switch (item.Type)
            {
                case StructuredType.Boolean when item.Integer == 1:
                    result.Apply(name, argument: null);
                    break;
                case StructuredType.Integer when item.Integer >= 0 && name is "max-age" or "s-maxage" or "stale-while-revalidate" or "stale-if-error":
                    result.Apply(name, item.Integer.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    break;
                case StructuredType.InnerList when item.Strings is { Count: > 0 } fields && name is "private" or "no-cache":
                    result.Apply(name, string.Join(',', fields));
                    break;
            }
        }

        return result;
    }

    private void ParseOne(string text)
    {
        var i = 0;
        while (i < text.Length)
        {
            // name
            while (i < text.Length && (text[i] == ',' || text[i] == ' ' || text[i] == '\t'))
            {
                i++;
            }

            var nameStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',' && text[i] != ';')
            {
                i++;
            }

            var name = text.AsSpan(nameStart, i - nameStart).Trim();
            string? argument = null;
            if (i < text.Length && text[i] == '=')
            {
                i++;
                if (i < text.Length && text[i] == '"')
                {
                    i++;
                    var sb = new System.Text.StringBuilder();
                    while (i < text.Length && text[i] != '"')
                    {
                        if (text[i] == '\\' && i + 1 < text.Length)
                        {
                            i++;
                        }

                        sb.Append(text[i]);
                        i++;
                    }

                    i++; // closing quote (or end)
                    argument = sb.ToString();
                    while (i < text.Length && text[i] != ',')
                    {
                        i++;
                    }
                }
                else
                {
                    var argStart = i;
                    while (i < text.Length && text[i] != ',')
                    {
                        i++;
                    }

                    argument = text.AsSpan(argStart, i - argStart).Trim().ToString();
                }
            }
            else
            {
                // skip structured-field parameters (";a=b") of targeted fields, and garbage up to the next comma
                while (i < text.Length && text[i] != ',')
                {
                    i++;
                }
            }

            if (!name.IsEmpty)
            {
                Apply(name, argument);
            }
        }
    }

    private void Apply(ReadOnlySpan<char> name, string? argument)
    {
        if (name.Equals("no-store", StringComparison.OrdinalIgnoreCase))
        {
            NoStore = true;
        }
        else if (name.Equals("no-cache", StringComparison.OrdinalIgnoreCase))
        {
            // RFC 9213 targeted fields use booleans ("no-cache=?1"); treat ?0 as absent.
            if (argument is null || argument == "?1")
            {
                NoCache = true;
            }
            else if (argument != "?0")
            {
                (NoCacheFields ??= []).AddRange(SplitFields(argument));
            }
        }
        else if (name.Equals("private", StringComparison.OrdinalIgnoreCase))
        {
            if (argument is null || argument == "?1")
            {
                Private = true;
            }
            else if (argument != "?0")
            {
                (PrivateFields ??= []).AddRange(SplitFields(argument));
            }
        }
        else if (name.Equals("public", StringComparison.OrdinalIgnoreCase))
        {
            Public = argument != "?0";
        }
        else if (name.Equals("must-revalidate", StringComparison.OrdinalIgnoreCase))
        {
            MustRevalidate = argument != "?0";
        }
        else if (name.Equals("proxy-revalidate", StringComparison.OrdinalIgnoreCase))
        {
            ProxyRevalidate = argument != "?0";
        }
        else if (name.Equals("only-if-cached", StringComparison.OrdinalIgnoreCase))
        {
            OnlyIfCached = true;
        }
        else if (name.Equals("must-understand", StringComparison.OrdinalIgnoreCase))
        {
            MustUnderstand = argument != "?0";
        }
        else if (name.Equals("max-age", StringComparison.OrdinalIgnoreCase))
        {
            MaxAge = Delta(MaxAge, argument, freshness: true);
        }
        else if (name.Equals("s-maxage", StringComparison.OrdinalIgnoreCase))
        {
            SharedMaxAge = Delta(SharedMaxAge, argument, freshness: true);
        }
        else if (name.Equals("stale-while-revalidate", StringComparison.OrdinalIgnoreCase))
        {
            StaleWhileRevalidate = Delta(StaleWhileRevalidate, argument, freshness: false);
        }
        else if (name.Equals("stale-if-error", StringComparison.OrdinalIgnoreCase))
        {
            StaleIfError = Delta(StaleIfError, argument, freshness: false);
        }
        else if (name.Equals("min-fresh", StringComparison.OrdinalIgnoreCase))
        {
            MinFresh = Delta(MinFresh, argument, freshness: false);
        }
        else if (name.Equals("max-stale", StringComparison.OrdinalIgnoreCase))
        {
            MaxStale = argument is null ? TimeSpan.MaxValue : Delta(MaxStale, argument, freshness: false);
        }
    }

    private TimeSpan? Delta(TimeSpan? previous, string? argument, bool freshness)
    {
        if (!TryParseDelta(argument, out var value))
        {
            // Malformed: a freshness directive makes the response stale; a stale window is ignored.
            if (freshness)
            {
                InvalidFreshness = true;
                return TimeSpan.Zero;
            }

            return previous;
        }

        if (previous is { } p && p != value)
        {
            if (freshness)
            {
                InvalidFreshness = true;
            }

            return p < value ? p : value;
        }

        return value;
    }

    internal static bool TryParseDelta(string? argument, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrEmpty(argument))
        {
            return false;
        }

        long seconds = 0;
        foreach (var c in argument)
        {
            if (c < '0' || c > '9')
            {
                return false;
            }

            seconds = Math.Min(seconds * 10 + (c - '0'), MaxDeltaSeconds);
        }

        value = TimeSpan.FromSeconds(seconds);
        return true;
    }

    private static string[] SplitFields(string argument) =>
        argument.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
