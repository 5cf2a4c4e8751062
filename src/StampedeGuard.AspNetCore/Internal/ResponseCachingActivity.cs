using System.Diagnostics;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>The <see cref="ActivitySource"/> <c>StampedeGuard.AspNetCore</c>: one activity per origin execution started by the cache.</summary>
internal static class ResponseCachingActivity
{
    public static readonly ActivitySource Source = new(ResponseCachingMetrics.MeterName);
}
