using System.Diagnostics;
using System.Globalization;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>
/// StampedeGuard, FusionCache and HybridCache over one redis-server, each as several nodes (child processes), the
/// libraries interleaved round by round (A B C, B C A, C A B, ...). Every block starts its library's processes on an
/// empty Redis and stops them after, so the commands Redis counts in a phase (<c>INFO commandstats</c>) are that
/// library's alone, its background traffic included.
/// </summary>
internal static class PeersComparison
{
    private static readonly PeerLibrary[] Libraries = [PeerLibrary.StampedeGuard, PeerLibrary.FusionCache, PeerLibrary.HybridCache];

    public static async Task RunAsync(RedisServer server, PeersSettings settings)
    {
        var results = new List<PeerRoundResult>();
        for (var round = 0; round < settings.Rounds; round++)
        {
            foreach (var library in Libraries.Skip(round % Libraries.Length).Concat(Libraries.Take(round % Libraries.Length)))
            {
                var stopwatch = Stopwatch.StartNew();
                var result = await RunBlockAsync(server, library, round, settings);
                results.Add(result);
                Console.Error.WriteLine($"round {round + 1}/{settings.Rounds}: {library} done in {stopwatch.Elapsed.TotalSeconds:F0} s");
            }
        }

        PeersReport.Print(results, settings);
    }

    private static async Task<PeerRoundResult> RunBlockAsync(RedisServer server, PeerLibrary library, int round, PeersSettings settings)
    {
        await server.CliAsync("flushall");
        var nodes = Enumerable.Range(0, PeersSettings.Processes).Select(_ => PeerProcess.Start(library, server.Configuration)).ToArray();
        try
        {
            await Task.WhenAll(nodes.Select(n => n.SendAsync("ready")));

            // Cold key: every process's callers released at one instant; the first key warms the path up (not counted).
            long start = 0;
            string[][] cold = [];
            foreach (var key in new[] { "cold-warm-up", "cold" })
            {
                start = Later(TimeSpan.FromMilliseconds(500));
                cold = await Task.WhenAll(nodes.Select(n => n.SendAsync($"cold {key} {settings.ColdCallers} {start} {PeersSettings.Factory.TotalMilliseconds}")));
            }

            var coldRuns = cold.Sum(c => int.Parse(c[0]));
            var coldPerProcess = cold.Select(c => Milliseconds(long.Parse(c[1]) - start)).ToArray();

            // L2 hit: node A writes, node B reads skipping its memory tier; Redis counts what B's reads ran.
            await nodes[0].SendAsync("set l2 l2 300000");
            var before = await CommandStats.ReadAsync(server);
            var hit = await nodes[1].SendAsync($"l2hit l2 {settings.L2Calls}");
            var delta = CommandStats.Delta(before, await CommandStats.ReadAsync(server), "info");
            if (int.Parse(hit[1]) != 0)
            {
                throw new InvalidOperationException($"{library}: a factory ran during the L2 hits ({hit[1]} times).");
            }

            var hits = double.Parse(hit[2]);
            var perHit = delta.ToDictionary(kv => kv.Key, kv => kv.Value / hits);

            var seen = await SetAndSeeAsync(nodes, settings);

            // A Set with a 1 s duration: does the value reach Redis?
            await nodes[0].SendAsync($"set short1s s {settings.ShortDuration.TotalMilliseconds}");
            var inRedis = (await server.CliAsync("keys", "*short1s*")).Trim().Length > 0;

            // Landing page: 2 processes x 5 workers.
            start = Later(TimeSpan.FromSeconds(1.5));
            var landing = await Task.WhenAll(nodes.Take(PeersSettings.LandingProcesses).Select(n => n.SendAsync(
                $"landing landing {PeersSettings.LandingWorkers} {start} {settings.LandingSeconds} {PeersSettings.Factory.TotalMilliseconds} {settings.ShortDuration.TotalMilliseconds}")));

            // Steady state: every process loops from now (warm-up) and counts from start; Redis is read at start and end.
            start = Later(TimeSpan.FromSeconds(1));
            var end = start + (long)(settings.SteadySeconds * Stopwatch.Frequency);
            var steady = nodes.Select(n => n.SendAsync($"steady s {PeersSettings.SteadyLoops} {PeersSettings.SteadyKeys} {start} {settings.SteadySeconds} {settings.ShortDuration.TotalMilliseconds}")).ToArray();
            await DelayUntilAsync(start);
            before = await CommandStats.ReadAsync(server);
            await DelayUntilAsync(end);
            var after = await CommandStats.ReadAsync(server);
            var calls = (await Task.WhenAll(steady)).Sum(s => long.Parse(s[0]));
            var commands = CommandStats.Delta(before, after, "info").ToDictionary(kv => kv.Key, kv => kv.Value * 1000.0 / calls);

            return new PeerRoundResult(
                round,
                library,
                coldRuns,
                coldPerProcess.Max(),
                coldPerProcess,
                double.Parse(hit[0]),
                perHit,
                seen,
                landing.Sum(l => int.Parse(l[0])),
                landing.Sum(l => int.Parse(l[1])),
                landing.Sum(l => int.Parse(l[2])),
                calls / settings.SteadySeconds,
                commands,
                inRedis);
        }
        finally
        {
            await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
        }
    }

    /// <summary>
    /// Node A sets a new value; nodes B and C, which hold the previous one in memory, read until they see it. The p50
    /// over the samples of the time from A's SetAsync call to the later of B and C seeing the value; null when a
    /// sample was not seen within the timeout (the rest of the round's samples are then skipped).
    /// </summary>
    private static async Task<double?> SetAndSeeAsync(PeerProcess[] nodes, PeersSettings settings)
    {
        var (writer, readers) = (nodes[0], nodes[1..]);
        var timeout = settings.SeeTimeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture);
        await writer.SendAsync("set see v0 300000");
        foreach (var reader in readers)
        {
            await reader.SendAsync($"watch see v0 {timeout}");
            await reader.ReadAsync();
        }

        var samples = new List<double>();
        for (var i = 1; i <= settings.SeeSamples; i++)
        {
            foreach (var ack in await Task.WhenAll(readers.Select(r => r.SendAsync($"watch see v{i} {timeout}"))))
            {
                if (ack[1] == "True")
                {
                    throw new InvalidOperationException("A reader saw the value before it was written.");
                }
            }

            var set = await writer.SendAsync($"set see v{i} 300000");
            var seen = await Task.WhenAll(readers.Select(r => r.ReadAsync()));
            if (seen.Any(s => s[0] == "never"))
            {
                return null;
            }

            samples.Add(Milliseconds(seen.Max(s => long.Parse(s[0])) - long.Parse(set[0])));
        }

        samples.Sort();
        return samples[samples.Count / 2];
    }

    private static long Later(TimeSpan delay) => Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);

    private static double Milliseconds(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static async Task DelayUntilAsync(long timestamp)
    {
        var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        if (remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining);
        }
    }
}
