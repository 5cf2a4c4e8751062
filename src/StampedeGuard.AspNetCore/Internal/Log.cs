using Microsoft.Extensions.Logging;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Log messages of StampedeGuard.AspNetCore (event ids 200-299). Event names are shipped API: never rename one.</summary>
internal static partial class Log
{
    [LoggerMessage(200, LogLevel.Debug, "Response for {Key} not stored: {Reason}.")]
    public static partial void NotStored(ILogger logger, string key, string reason);

    [LoggerMessage(201, LogLevel.Debug, "Hit-for-pass marker set for {Key} ({Reason}) for {Seconds} s: requests for it go to the origin in parallel.")]
    public static partial void HitForPassSet(ILogger logger, string key, string reason, double seconds);

    [LoggerMessage(202, LogLevel.Warning, "Origin execution for {UrlHash} failed; its {Mode} applies.")]
    public static partial void OriginFailed(ILogger logger, string urlHash, string mode, Exception exception);

    [LoggerMessage(203, LogLevel.Warning, "Serving a stale response for {UrlHash} because the origin failed (stale-if-error).")]
    public static partial void StaleIfError(ILogger logger, string urlHash);

    // 204 (WaiterTimedOut, "... gave up ... and goes to the origin itself") is retired: a waiter no longer sends a
    // request of its own (event 210). Never reuse the id.

    [LoggerMessage(205, LogLevel.Warning, "Background revalidation of {UrlHash} failed.")]
    public static partial void BackgroundRevalidationFailed(ILogger logger, string urlHash, Exception exception);

    [LoggerMessage(206, LogLevel.Warning, "The cache failed for {UrlHash}; the request goes to the origin uncached.")]
    public static partial void CacheFailed(ILogger logger, string urlHash, Exception exception);

    [LoggerMessage(207, LogLevel.Warning, "Forwarding {Method} {Path} to the origin failed.")]
    public static partial void ForwardFailed(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(209, LogLevel.Warning, "Origin execution for {UrlHash} sent no response headers within {Seconds} s: its clients get 504.")]
    public static partial void OriginTimedOut(ILogger logger, string urlHash, double seconds);

    [LoggerMessage(208, LogLevel.Debug, "Invalidated {Url} after a successful {Method}.")]
    public static partial void Invalidated(ILogger logger, string url, string method);

    [LoggerMessage(210, LogLevel.Information, "A collapsed waiter for {UrlHash} gave up after {Seconds} s without the origin's headers: it gets {Answer}; the flight's one origin request continues for the others.")]
    public static partial void WaiterGaveUp(ILogger logger, string urlHash, double seconds, string answer);

    [LoggerMessage(211, LogLevel.Debug, "Not storing what the origin answered for {UrlHash}: a purge of its URL or of one of its tags returned while the origin ran.")]
    public static partial void StoreRefused(ILogger logger, string urlHash);
}
