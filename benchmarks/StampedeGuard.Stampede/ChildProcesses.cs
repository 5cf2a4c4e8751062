using System.Diagnostics;
using System.Globalization;

namespace StampedeGuard.Stampede;

/// <summary>
/// <c>--processes P</c>: splits the workers over P copies of this program started in a hidden <c>--child</c> mode. All
/// share one start instant (UTC ticks); each writes its calls and factory runs as CSV with UTC ticks; the parent merges
/// them, so the peak factory concurrency is measured across processes on one clock.
/// </summary>
internal static class ChildProcesses
{
    private static readonly TimeSpan StartUpAllowance = TimeSpan.FromSeconds(2);

    public static async Task<long> RunAsync(StrategyDefinition strategy, Scenario scenario, Recorder recorder)
    {
        var runStart = Clock.Now + StartUpAllowance.Ticks;
        var folder = Directory.CreateTempSubdirectory("stampede-");
        try
        {
            var children = new List<(Process Process, Task<string> Errors, string Output)>();
            for (var i = 0; i < scenario.Processes; i++)
            {
                var workers = (scenario.Workers / scenario.Processes) + (i < scenario.Workers % scenario.Processes ? 1 : 0);
                var output = Path.Combine(folder.FullName, i.ToString(CultureInfo.InvariantCulture));
                var process = Process.Start(StartInfo(strategy, scenario, workers, runStart, output))
                    ?? throw new InvalidOperationException("Could not start a child process.");
                _ = process.StandardOutput.ReadToEndAsync();
                children.Add((process, process.StandardError.ReadToEndAsync(), output));
            }

            foreach (var (process, errors, output) in children)
            {
                await process.WaitForExitAsync();
                if (process.ExitCode != 0)
                {
                    throw new InvalidOperationException($"A child process exited with {process.ExitCode}: {await errors}");
                }

                recorder.AddRange(CsvFiles.ReadCalls(Path.Combine(output, "calls.csv")), CsvFiles.ReadRuns(Path.Combine(output, "factory.csv")));
                process.Dispose();
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }

        return runStart;
    }

    /// <summary>The child's side: run this process's share of the workers and write the samples where the parent reads them.</summary>
    public static async Task RunChildAsync(StrategyDefinition strategy, Scenario scenario, long runStart, string output)
    {
        var recorder = new Recorder();
        await Workload.RunAsync(strategy, scenario, scenario.Workers, runStart, recorder);
        Directory.CreateDirectory(output);
        CsvFiles.WriteCalls(Path.Combine(output, "calls.csv"), recorder.Calls(), runStart);
        CsvFiles.WriteRuns(Path.Combine(output, "factory.csv"), recorder.Runs(), runStart);
    }

    private static ProcessStartInfo StartInfo(StrategyDefinition strategy, Scenario scenario, int workers, long runStart, string output)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("Unknown process path.");
        var info = new ProcessStartInfo(host) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(typeof(ChildProcesses).Assembly.Location);
        }

        string[] args =
        [
            "--child", "--start-at", runStart.ToString(CultureInfo.InvariantCulture), "--child-out", output,
            "--strategies", strategy.Slug, "--workers", workers.ToString(CultureInfo.InvariantCulture),
            "--duration", scenario.Duration.TotalSeconds.ToString("R", CultureInfo.InvariantCulture),
            "--ttl", scenario.Ttl.TotalSeconds.ToString("R", CultureInfo.InvariantCulture),
            "--factory-ms-min", scenario.Factory.Min.TotalMilliseconds.ToString("R", CultureInfo.InvariantCulture),
            "--factory-ms-max", scenario.Factory.Max.TotalMilliseconds.ToString("R", CultureInfo.InvariantCulture),
            "--drift-period", scenario.Factory.Period.TotalSeconds.ToString("R", CultureInfo.InvariantCulture),
        ];
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        if (scenario.Redis is not null)
        {
            info.ArgumentList.Add("--redis");
            info.ArgumentList.Add(scenario.Redis);
        }

        return info;
    }
}
