using System.Diagnostics;
using StampedeGuard.Stampede.Strategies;

namespace StampedeGuard.Stampede;

/// <summary>
/// Runs one strategy in this process: at <c>runStart</c> one warm-up call, then the workers, each looping
/// "call, then sleep" for the scenario's duration; finally waits for a background refresh still in flight.
/// </summary>
internal static class Workload
{
    public static async Task RunAsync(StrategyDefinition definition, Scenario scenario, int workers, long runStart, Recorder recorder)
    {
        var origin = new Origin(scenario.Factory, runStart, recorder);
        await using var strategy = await definition.Create(origin, scenario);

        var wait = TimeSpan.FromTicks(runStart - Clock.Now);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        await CallAsync(strategy, recorder, warmUp: true);
        var end = Clock.Now + scenario.Duration.Ticks;
        var loops = new Task[workers];
        for (var i = 0; i < workers; i++)
        {
            loops[i] = Task.Run(() => WorkerAsync(strategy, recorder, end));
        }

        await Task.WhenAll(loops);
        await Task.Delay(scenario.Factory.Max + TimeSpan.FromMilliseconds(100));
    }

    private static async Task WorkerAsync(Strategy strategy, Recorder recorder, long end)
    {
        while (Clock.Now < end)
        {
            await CallAsync(strategy, recorder, warmUp: false);
            await Task.Delay(Scenario.Think);
        }
    }

    private static async ValueTask CallAsync(Strategy strategy, Recorder recorder, bool warmUp)
    {
        var start = Clock.Now;
        var timestamp = Stopwatch.GetTimestamp();
        var page = await strategy.GetAsync(CancellationToken.None);
        var latency = Stopwatch.GetElapsedTime(timestamp);
        recorder.AddCall(new CallSample(start, latency.Ticks, Clock.Now - page.ProducedAt, warmUp));
    }
}
