using Microsoft.Extensions.Logging;

namespace StampedeGuard.Hybrid;

/// <summary>
/// Log events of the HybridCache adapter (core range, ids 80-89). Event names are shipped API: never rename one.
/// Keys that fail HybridCache's rules are not logged (they may be anything); values never are.
/// </summary>
internal static partial class HybridLog
{
    [LoggerMessage(80, LogLevel.Error, "Cache key is empty or whitespace; the value is computed and not cached.")]
    public static partial void KeyEmptyOrWhitespace(ILogger logger);

    [LoggerMessage(81, LogLevel.Error, "Cache key is {Length} characters long, over MaximumKeyLength ({Maximum}); the value is computed and not cached.")]
    public static partial void MaximumKeyLengthExceeded(ILogger logger, int length, int maximum);

    [LoggerMessage(82, LogLevel.Error, "Cache key contains a control character; the value is computed and not cached.")]
    public static partial void KeyInvalidContent(ILogger logger);
}
