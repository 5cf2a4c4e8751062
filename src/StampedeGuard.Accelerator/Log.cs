using Microsoft.Extensions.Logging;

namespace StampedeGuard.Accelerator;

/// <summary>The accelerator's log events (ids 300-399). Request logging is ASP.NET Core's and YARP's, opt-in.</summary>
internal static partial class Log
{
    [LoggerMessage(300, LogLevel.Information, "StampedeGuard accelerator: response caching in front of {Routes} route(s) to {Clusters} cluster(s).")]
    public static partial void Starting(ILogger logger, int routes, int clusters);
}
