namespace StampedeGuard.AspNetCore;

/// <summary>What the collapsed waiters of a failed origin execution (an exception or a 5xx response) get when no stale response may be served instead.</summary>
public enum OriginFailureMode
{
    /// <summary>Every waiter gets the same failure: the same 5xx response, or the same exception. One origin execution, never N parallel retries.</summary>
    ShareFailure = 0,

    /// <summary>
    /// The waiters retry once, collapsed: one of them leads a single new origin execution and the others wait for it.
    /// A second failure is shared.
    /// </summary>
    RetryOnce = 1,
}
