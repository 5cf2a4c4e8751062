using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Formats this cache's member of the <c>Cache-Status</c> field (RFC 9211) and appends it to what the origin sent.</summary>
internal static class CacheStatus
{
    private const int CachedHitValues = 4096;
    private static readonly string?[] HitValues = new string?[CachedHitValues];
    private static string? _hitValuesName;

    public static string Hit(string name, TimeSpan ttl, string? detail = null)
    {
        // A fresh hit's value depends only on the whole seconds left: keep the formatted strings (the hot path).
        var seconds = (long)Math.Floor(ttl.TotalSeconds);
        if (detail is null && seconds is >= 0 and < CachedHitValues && ReferenceEquals(Volatile.Read(ref _hitValuesName), name))
        {
            return HitValues[seconds] ??= Format(name, null, ttl, stored: false, collapsed: false, null);
        }

        if (detail is null && Volatile.Read(ref _hitValuesName) is null)
        {
            Interlocked.CompareExchange(ref _hitValuesName, name, null);
        }

        return Format(name, null, ttl, stored: false, collapsed: false, detail);
    }

    public static string Forward(string name, Forward fwd, TimeSpan? ttl = null, bool stored = false, bool collapsed = false, string? detail = null) =>
        Format(name, fwd.Token(), ttl, stored, collapsed, detail);

    /// <summary>Sets the field: our member goes last (the cache closest to the client), after any the origin's caches sent.</summary>
    public static void Apply(IHeaderDictionary headers, string value)
    {
        var existing = headers[HeaderRules.CacheStatus];
        headers[HeaderRules.CacheStatus] = existing.Count == 0 ? value : existing + ", " + value;
    }

    private static string Format(string name, string? fwd, TimeSpan? ttl, bool stored, bool collapsed, string? detail)
    {
        var sb = new StringBuilder(64).Append(name);
        sb.Append(fwd is null ? "; hit" : "; fwd=" + fwd);
        if (ttl is { } t)
        {
            sb.Append("; ttl=").Append(((long)Math.Floor(t.TotalSeconds)).ToString(CultureInfo.InvariantCulture));
        }

        if (stored)
        {
            sb.Append("; stored");
        }

        if (collapsed)
        {
            sb.Append("; collapsed");
        }

        if (detail is not null)
        {
            sb.Append("; detail=").Append(detail);
        }

        return sb.ToString();
    }
}
