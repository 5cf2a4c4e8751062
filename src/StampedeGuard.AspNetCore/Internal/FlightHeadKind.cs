namespace StampedeGuard.AspNetCore.Internal;

/// <summary>What an in-flight origin execution told its clients when its response headers were known.</summary>
internal enum FlightHeadKind
{
    /// <summary>The origin's response is streaming into the shared buffer.</summary>
    Streaming = 0,

    /// <summary>A complete stored response answers the flight (a 304 merged into the stale entry, a stale-if-error response, or another node's value).</summary>
    Stored = 1,

    /// <summary>Waiters must go to the origin themselves (the key is marked hit-for-pass elsewhere).</summary>
    Detached = 2,

    /// <summary>The origin execution failed; waiters share the failure.</summary>
    Failed = 3,

    /// <summary>Waiters should look the key up again (retry after a failure, or the answer is a vary marker).</summary>
    Retry = 4,
}
