using Microsoft.AspNetCore.Http;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>What an origin execution does with the origin's answer once its headers arrive.</summary>
internal enum OriginAction
{
    /// <summary>A 304 to this cache's revalidation: its fields merge into the stale response, which answers everyone and is stored again.</summary>
    MergeNotModified,

    /// <summary>A 5xx while the stale response may still answer on error (RFC 5861 4): it answers everyone; nothing is stored.</summary>
    ServeStaleIfError,

    /// <summary>
    /// The origin's response streams to the flight's clients. <see cref="OriginDecision.Evaluation"/> says the rest:
    /// stored or not, shared with the waiters or detached from them (newcomers go to the origin on their own), a
    /// hit-for-pass marker or not, and for a failure whether the waiters share it or retry it once, collapsed.
    /// </summary>
    Stream,
}

/// <summary>
/// The decision over (origin head, miss plan), pure: no I/O and no flight, so every branch is unit tested without a
/// server. <see cref="OriginFetch"/> carries it out (publishes, stores, marks).
/// </summary>
internal sealed class OriginDecision
{
    private OriginDecision(OriginAction action, CachedResponse? answer, ResponseEvaluation? evaluation, bool retryForWaiters)
    {
        Action = action;
        Answer = answer;
        Evaluation = evaluation;
        RetryForWaiters = retryForWaiters;
    }

    public OriginAction Action { get; }

    /// <summary>Gets the stored-form response that answers everyone (<see cref="OriginAction.MergeNotModified"/>, <see cref="OriginAction.ServeStaleIfError"/>).</summary>
    public CachedResponse? Answer { get; }

    /// <summary>Gets the storability of the streamed response (<see cref="OriginAction.Stream"/>).</summary>
    public ResponseEvaluation? Evaluation { get; }

    /// <summary>Gets whether the waiters retry a failed execution once, collapsed, instead of sharing its failure.</summary>
    public bool RetryForWaiters { get; }

    /// <summary>Gets whether the response is stored.</summary>
    public bool Stores => Action == OriginAction.MergeNotModified || Evaluation is { Storable: true };

    /// <summary>Gets whether the waiters share what the origin answered (else they are detached from it).</summary>
    public bool Shared => Action != OriginAction.Stream || Evaluation is { Shareable: true };

    /// <summary>Gets whether a hit-for-pass marker is set for the key.</summary>
    public bool SetsHitForPass => Evaluation is { HitForPass: true };

    /// <summary>Decides.</summary>
    /// <param name="status">The origin's status code.</param>
    /// <param name="headers">The origin's response header fields.</param>
    /// <param name="plan">What the lookup found (the stale response, its validators, the endpoint policy).</param>
    /// <param name="isRetry">Whether this execution is already the collapsed retry of a failed one.</param>
    /// <param name="requestTime">When the request to the origin was sent.</param>
    /// <param name="now">When the headers arrived.</param>
    /// <param name="options">The cache's options.</param>
    public static OriginDecision Decide(int status, IHeaderDictionary headers, MissPlan plan, bool isRetry, DateTimeOffset requestTime, DateTimeOffset now, StampedeResponseCachingOptions options)
    {
        // A 304 to our revalidation (RFC 9111 4.3.4): only when we sent validators, i.e. the stale entry has some.
        if (status == StatusCodes.Status304NotModified && plan.Stale is { } stale && (stale.ETag is not null || stale.LastModified is not null))
        {
            return new OriginDecision(OriginAction.MergeNotModified, StorageRules.Merge(stale, status, headers, requestTime, now, options, plan.Policy), null, retryForWaiters: false);
        }

        // A 5xx with a stale entry inside its stale-if-error window (RFC 5861 4).
        if (status >= 500 && plan.StaleOnError(now) is { } fallback)
        {
            return new OriginDecision(OriginAction.ServeStaleIfError, fallback, null, retryForWaiters: false);
        }

        var evaluation = StorageRules.Evaluate(status, headers, plan.RequestHadAuthorization, requestTime, now, options, plan.Policy);
        var retry = status >= 500 && options.FailureMode == OriginFailureMode.RetryOnce && !isRetry;
        return new OriginDecision(OriginAction.Stream, null, evaluation, retry);
    }
}
