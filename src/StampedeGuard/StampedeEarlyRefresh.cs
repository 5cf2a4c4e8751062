namespace StampedeGuard;

/// <summary>How a fresh hit decides to refresh a hot key before it expires.</summary>
public enum StampedeEarlyRefresh
{
    /// <summary>
    /// The default: refresh once, in the background, when the time left is about the factory's measured duration
    /// (scaled by <see cref="StampedeCacheEntryOptions.EarlyRefreshBeta"/>) plus a margin for its drift, so the new
    /// value is ready when the old one expires. Needs no tuning: the lead follows the factory.
    /// </summary>
    Adaptive = 0,

    /// <summary>
    /// Classic probabilistic early recomputation (XFetch, Vattani et al.): a hit refreshes when
    /// <c>now - delta * beta * ln(u) &gt;= freshUntil</c>, u uniform in (0, 1]. Still at most one refresh per key at a time.
    /// </summary>
    XFetch = 1,
}
