namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>The HybridCache implementation a contract test runs against.</summary>
public enum Implementation
{
    /// <summary>Microsoft.Extensions.Caching.Hybrid's <c>AddHybridCache()</c>: the calibration.</summary>
    Microsoft,

    /// <summary>StampedeGuard's <c>AddStampedeGuard()</c>: the engine's own L1.</summary>
    StampedeGuard,

    /// <summary>StampedeGuard's <c>AddStampedeGuard().UseRegisteredMemoryCache()</c>: the L1 in the registered IMemoryCache, as Microsoft's.</summary>
    StampedeGuardRegisteredMemoryCache,
}
