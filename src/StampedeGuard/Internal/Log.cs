using Microsoft.Extensions.Logging;

namespace StampedeGuard.Internal;

/// <summary>Log events of the core (ids 1-99). Event names are shipped API: never rename one. Values are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Warning, "Factory for key '{Key}' failed; serving the fail-safe value stored {AgeSeconds:F1}s ago and not retrying for {ThrottleSeconds:F1}s.")]
    public static partial void FailSafeActivated(ILogger logger, string key, double ageSeconds, double throttleSeconds, Exception exception);

    [LoggerMessage(2, LogLevel.Debug, "Factory for key '{Key}' failed with no fail-safe value; every waiter of this run gets the exception.")]
    public static partial void FactoryFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(3, LogLevel.Warning, "Factory for key '{Key}' exceeded its hard timeout of {TimeoutSeconds:F3}s; its token was cancelled.")]
    public static partial void FactoryHardTimeout(ILogger logger, string key, double timeoutSeconds);

    [LoggerMessage(4, LogLevel.Warning, "A caller of key '{Key}' waited {TimeoutSeconds:F3}s (LockTimeout) behind another run and starts a new one.")]
    public static partial void LockTimeout(ILogger logger, string key, double timeoutSeconds);

    [LoggerMessage(5, LogLevel.Warning, "Distributed tier {Operation} failed for key '{Key}'; continuing with the local tier.")]
    public static partial void DistributedError(ILogger logger, string operation, string key, Exception exception);

    [LoggerMessage(6, LogLevel.Warning, "Entry for key '{Key}' in the distributed tier is corrupt or of another type; treated as a miss.")]
    public static partial void CorruptEnvelope(ILogger logger, string key, Exception? exception);

    [LoggerMessage(7, LogLevel.Warning, "Value for key '{Key}' is {Bytes} bytes, over MaximumPayloadBytes ({Maximum}); served and kept locally, not written to the distributed tier.")]
    public static partial void PayloadTooLarge(ILogger logger, string key, int bytes, int maximum);

    [LoggerMessage(8, LogLevel.Warning, "Write for key '{Key}' was refused: the distributed lease was lost while the run went on (a pause or partition outlasted it; another node may have written a newer value). Its value answered its callers and was not stored.")]
    public static partial void FencedWriteRefused(ILogger logger, string key);

    [LoggerMessage(9, LogLevel.Debug, "Background refresh of key '{Key}' failed; the current value stays.")]
    public static partial void BackgroundRefreshFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "Backplane message handling failed for key '{Key}'.")]
    public static partial void BackplaneError(ILogger logger, string key, Exception exception);

    [LoggerMessage(11, LogLevel.Warning, "Factory for key '{Key}' failed after it was abandoned (hard timeout or cancelled run); nobody waited for it.")]
    public static partial void AbandonedFactoryFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(12, LogLevel.Information, "The run for key '{Key}' was superseded in the distributed tier (an invalidation or another write changed the key after the run read it): its value answered its callers and was not stored.")]
    public static partial void RunSuperseded(ILogger logger, string key);

    [LoggerMessage(14, LogLevel.Warning, "{Operation} for '{Key}' could not be confirmed by the distributed tier (attempt {Attempt} of {Attempts}).")]
    public static partial void InvalidationNotConfirmed(ILogger logger, string operation, string key, int attempt, int attempts, Exception? exception);

    [LoggerMessage(15, LogLevel.Information, "The backplane reported that messages may have been lost or the distributed tier was reset: dropped {Entries} local entries; tag invalidations are read again.")]
    public static partial void LocalTierReset(ILogger logger, int entries);

    [LoggerMessage(16, LogLevel.Warning, "A tag invalidation listener (RegisterTagInvalidation) failed for tag '{Tag}'.")]
    public static partial void TagListenerFailed(ILogger logger, string tag, Exception exception);
}
