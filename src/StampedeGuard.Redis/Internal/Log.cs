using Microsoft.Extensions.Logging;

namespace StampedeGuard.Redis.Internal;

/// <summary>Log events of the Redis package (ids 100-199). Event names are shipped API: never rename one. Values are never logged.</summary>
internal static partial class Log
{
    /// <summary>A call failed for a reason other than an outage (a server error reply, a script error): logged each time.</summary>
    [LoggerMessage(100, LogLevel.Warning, "Redis {Operation} failed; answering without Redis.")]
    public static partial void OperationFailed(ILogger logger, string operation, Exception exception);

    [LoggerMessage(101, LogLevel.Debug, "Redis circuit opened for {BreakSeconds:F1}s: Redis calls are skipped and the cache runs on its local tier.")]
    public static partial void CircuitOpened(ILogger logger, double breakSeconds, Exception? exception);

    [LoggerMessage(102, LogLevel.Debug, "Redis circuit closed: Redis is used again.")]
    public static partial void CircuitClosed(ILogger logger);

    [LoggerMessage(103, LogLevel.Warning, "Redis key '{RedisKey}' holds a value that is not ours (another type or format); treated as a miss.")]
    public static partial void CorruptValue(ILogger logger, string redisKey);

    [LoggerMessage(104, LogLevel.Warning, "Fenced write to '{RedisKey}' refused: the lease is no longer owned (a newer holder may have written).")]
    public static partial void FencedWriteRefused(ILogger logger, string redisKey);

    [LoggerMessage(105, LogLevel.Warning, "Lease on '{RedisKey}' lost ({Reason}).")]
    public static partial void LeaseLost(ILogger logger, string redisKey, string reason);

    [LoggerMessage(106, LogLevel.Debug, "Lease on '{RedisKey}' extended by {LeaseMilliseconds} ms.")]
    public static partial void LeaseExtended(ILogger logger, string redisKey, long leaseMilliseconds);

    [LoggerMessage(107, LogLevel.Warning, "A notification handler threw; the message is dropped for that handler.")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(108, LogLevel.Debug, "Redis {ConnectionType} connection restored to {EndPoint}; waiters re-check the store.")]
    public static partial void ConnectionRestored(ILogger logger, string connectionType, string endPoint);

    [LoggerMessage(109, LogLevel.Debug, "Redis {ConnectionType} connection to {EndPoint} failed ({FailureType}).")]
    public static partial void ConnectionFailed(ILogger logger, string connectionType, string endPoint, string failureType, Exception? exception);

    [LoggerMessage(110, LogLevel.Debug, "Subscribing to the notification channel '{Channel}' failed; waiters fall back to lease-bounded re-checks until it succeeds.")]
    public static partial void SubscribeFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(111, LogLevel.Debug, "Redis circuit half-open: trying one call.")]
    public static partial void CircuitHalfOpened(ILogger logger);

    [LoggerMessage(112, LogLevel.Debug, "Redis {Operation} skipped: the circuit is open.")]
    public static partial void OperationSkipped(ILogger logger, string operation);

    [LoggerMessage(113, LogLevel.Warning, "Redis outage started ({Cause}): the cache runs on its local tier and counts what fails until Redis answers again.")]
    public static partial void OutageStarted(ILogger logger, string cause, Exception? exception);

    [LoggerMessage(114, LogLevel.Information, "Redis outage ended after {OutageSeconds:F1}s: {FailedCalls} calls failed, {SkippedCalls} skipped by the open circuit, {ConnectionFailures} connection failures.")]
    public static partial void OutageEnded(ILogger logger, double outageSeconds, long failedCalls, long skippedCalls, long connectionFailures);

    [LoggerMessage(115, LogLevel.Warning, "Redis {Operation} was refused as stale: it reached Redis after its deadline (replayed after a reconnect, or the Redis clock is ahead of this machine's by more than the operation timeout).")]
    public static partial void StaleRequestRefused(ILogger logger, string operation);

    [LoggerMessage(116, LogLevel.Debug, "Redis {Operation} timed out on a live connection; answering without Redis.")]
    public static partial void OperationTimedOut(ILogger logger, string operation);

    [LoggerMessage(117, LogLevel.Warning, "No heartbeat of this node came back through Redis for {SilentMilliseconds:F0} ms: invalidations may go unheard, so the in-memory copies are dropped.")]
    public static partial void HeartbeatMissed(ILogger logger, double silentMilliseconds);

    [LoggerMessage(118, LogLevel.Warning, "Redis's epoch counter went back from {Last} to {Current}: Redis restarted, was restored from an older snapshot, or failed over to a lagging replica. Everything stored before now is invalidated and the in-memory copies are dropped.")]
    public static partial void StoreRolledBack(ILogger logger, long last, long current);

    [LoggerMessage(119, LogLevel.Error, "The Redis server at {Server} does not run Lua scripts ({Error}). StampedeGuard.Redis needs them for every read, write, lock and invalidation: on Garnet start it with --lua --lua-transaction-mode (without the second its scripts are not atomic), on a managed service enable scripting. Until then the cache runs on its local tier.")]
    public static partial void ScriptingUnavailable(ILogger logger, string server, string error);
}
