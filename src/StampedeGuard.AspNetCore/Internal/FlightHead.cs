using System.Runtime.ExceptionServices;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>The first answer of an origin execution, published to its leader and waiters.</summary>
internal sealed class FlightHead
{
    public FlightHeadKind Kind { get; init; }

    public int StatusCode { get; init; }

    /// <summary>Gets the header fields for the leader's client (everything the origin sent, minus hop-by-hop and this cache's private fields).</summary>
    public Dictionary<string, string[]>? Headers { get; init; }

    /// <summary>Gets the header fields for collapsed waiters (also without Set-Cookie and fields named by a qualified private).</summary>
    public Dictionary<string, string[]>? SharedHeaders { get; init; }

    /// <summary>Gets whether waiters may use this response.</summary>
    public bool Shareable { get; init; }

    /// <summary>Gets whether waiters should retry once instead of sharing this (failed) response.</summary>
    public bool RetryForWaiters { get; init; }

    /// <summary>Gets whether the response will be stored (as far as known when the headers arrived).</summary>
    public bool Storing { get; init; }

    /// <summary>Gets the freshness lifetime minus age, for <c>ttl</c>.</summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>Gets the selecting header names of the response's <c>Vary</c>.</summary>
    public string[]? VaryHeaders { get; init; }

    /// <summary>Gets the leader's normalised values of <see cref="VaryHeaders"/>.</summary>
    public string[]? LeaderVaryValues { get; init; }

    /// <summary>Gets the stored response, for <see cref="FlightHeadKind.Stored"/>.</summary>
    public CachedResponse? Stored { get; init; }

    /// <summary>Gets the <c>Cache-Status</c> detail.</summary>
    public string? Detail { get; init; }

    /// <summary>Gets the failure, for <see cref="FlightHeadKind.Failed"/>.</summary>
    public ExceptionDispatchInfo? Failure { get; init; }
}
