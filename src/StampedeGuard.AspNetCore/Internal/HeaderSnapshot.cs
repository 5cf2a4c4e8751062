using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Copies an origin response's header fields for its clients: the leader's view and the collapsed waiters' view.</summary>
internal static class HeaderSnapshot
{
    /// <summary>
    /// The leader gets every field except hop-by-hop ones and this cache's private fields; waiters additionally never
    /// get <c>Set-Cookie</c> (unless storing it is opted in) or the fields a qualified <c>private="..."</c> names.
    /// </summary>
    public static (Dictionary<string, string[]> Full, Dictionary<string, string[]> Shared) Take(IHeaderDictionary headers, StampedeResponseCachingOptions options)
    {
        var full = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        var shared = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        var connectionNamed = HeaderRules.ConnectionNamed(headers.Connection);
        var cc = StorageRules.Directives(headers, options);
        foreach (var (name, values) in headers)
        {
            if (HeaderRules.IsHopByHop(name, connectionNamed) || StorageRules.IsPrivateToThisCache(name, options))
            {
                continue;
            }

            var array = HeaderRules.ToArray(values);
            full[name] = array;
            if ((options.StoreResponsesWithSetCookie || !name.Equals(HeaderNames.SetCookie, StringComparison.OrdinalIgnoreCase))
                && !(cc.PrivateFields?.Contains(name, StringComparer.OrdinalIgnoreCase) ?? false))
            {
                shared[name] = array;
            }
        }

        return (full, shared);
    }
}
