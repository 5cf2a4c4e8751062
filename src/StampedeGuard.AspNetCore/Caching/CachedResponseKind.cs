namespace StampedeGuard.AspNetCore.Caching;

/// <summary>What a stored entry is.</summary>
internal enum CachedResponseKind
{
    /// <summary>A stored response.</summary>
    Response = 0,

    /// <summary>Stored at a URL's primary key when its response has <c>Vary</c>: names the selecting headers and the variant generation.</summary>
    VaryMarker = 1,

    /// <summary>The key was found uncacheable: skip collapsing and go to the origin.</summary>
    HitForPass = 2,
}
