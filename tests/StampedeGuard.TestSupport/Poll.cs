using System.Diagnostics;
using Xunit.Sdk;

namespace StampedeGuard.TestSupport;

/// <summary>
/// Bounded waits for a condition another thread makes true, shared by the test projects. Never a fixed sleep: the
/// test fails (instead of hanging) on timeout.
/// </summary>
public static class Poll
{
    /// <summary>The default bound of every wait.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>Waits until <paramref name="condition"/> holds, failing the test after <see cref="Timeout"/>.</summary>
    /// <param name="condition">The condition.</param>
    /// <param name="what">What is awaited, for the failure message.</param>
    /// <returns>A task that completes when the condition holds.</returns>
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

    /// <summary>Awaits a task, failing the test (instead of hanging it) if it does not complete within <see cref="Timeout"/>.</summary>
    /// <param name="task">The task.</param>
    /// <param name="what">What is awaited, for the failure message.</param>
    /// <returns>A task that completes with <paramref name="task"/>.</returns>
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
