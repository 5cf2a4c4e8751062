namespace StampedeGuard.AspNetCore;

/// <summary>How the query string takes part in the cache key.</summary>
public enum QueryKeyMode
{
    /// <summary>The query's parameters, sorted by name (then value): <c>?b=2&amp;a=1</c> and <c>?a=1&amp;b=2</c> share an entry.</summary>
    Sorted = 0,

    /// <summary>The raw query string exactly as received.</summary>
    Exact = 1,

    /// <summary>Only the parameters named in <see cref="StampedeResponseCachingOptions.QueryKeys"/>, sorted; the others are ignored.</summary>
    AllowList = 2,

    /// <summary>The query string is not part of the key.</summary>
    Ignore = 3,
}
