namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>The libraries the peers mode compares, each set up for several nodes over one Redis.</summary>
internal enum PeerLibrary
{
    StampedeGuard,
    FusionCache,
    HybridCache,

    /// <summary>StampedeGuard without DI: the tier and engine built by hand, as <c>--l2hit</c> does (heartbeats on).</summary>
    StampedeGuardBare,
}
