using System.Diagnostics;
using Xunit.Sdk;

namespace StampedeGuard.Tests.Infrastructure;

/// <summary>Bounded waits for a condition another thread makes true. Never a fixed sleep: the test fails on timeout.</summary>
internal static class Poll
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > Timeout)
            {
                throw new XunitException($"Timed out after {Timeout.TotalSeconds:F0}s waiting until {what}.");
            }

            await Task.Delay(1);
        }
    }

    /// <summary>Awaits a task, failing the test (instead of hanging it) if it does not complete in time.</summary>
    public static async Task<T> Within<T>(Task<T> task, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? Timeout;
        var finished = await Task.WhenAny(task, Task.Delay(limit));
        if (finished != task)
        {
            throw new XunitException($"Timed out after {limit.TotalSeconds:F0}s waiting for {what}.");
        }

        return await task;
    }

    public static async Task Within(Task task, string what)
    {
        var finished = await Task.WhenAny(task, Task.Delay(Timeout));
        if (finished != task)
        {
            throw new XunitException($"Timed out after {Timeout.TotalSeconds:F0}s waiting for {what}.");
        }

        await task;
    }
}
