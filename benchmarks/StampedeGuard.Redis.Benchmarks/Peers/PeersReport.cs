using System.Reflection;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>The peers mode's markdown: medians over the rounds, and each peer's ratio to StampedeGuard taken round by round.</summary>
internal static class PeersReport
{
    public static void Print(IReadOnlyList<PeerRoundResult> results, PeersSettings s)
    {
        var rounds = results.Max(r => r.Round) + 1;
        Console.WriteLine($"## Peers over one Redis: StampedeGuard, FusionCache {Version("ZiggyCreatures.Caching.Fusion.IFusionCache, ZiggyCreatures.FusionCache")}, HybridCache {Version("Microsoft.Extensions.Caching.Hybrid")}");
        Console.WriteLine();
        Console.WriteLine($"{rounds} rounds, libraries interleaved (order rotated every round), {PeersSettings.Processes} processes per library started afresh for each block on an emptied Redis;");
        Console.WriteLine($"medians over the rounds; (x) = median of the per-round ratios to StampedeGuard. StackExchange.Redis {Version("StackExchange.Redis.ConnectionMultiplexer, StackExchange.Redis")}, Microsoft.Extensions.Caching.StackExchangeRedis {Version("Microsoft.Extensions.Caching.StackExchangeRedis.RedisCache, Microsoft.Extensions.Caching.StackExchangeRedis")}.");
        Console.WriteLine();
        Console.WriteLine("| Path | StampedeGuard | FusionCache (Redis L2 + backplane + distributed locker) | HybridCache (Redis L2) |");
        Console.WriteLine("|---|---:|---:|---:|");
        Row($"Cold key, {PeersSettings.Processes} processes x {s.ColdCallers} callers, {PeersSettings.Factory.TotalMilliseconds:F0} ms factory: factory runs / release to last value", results,
            l => $"{Median(l, r => r.ColdRuns):0.#} / {Median(l, r => r.ColdMs):F0} ms{Ratio(results, l, r => r.ColdMs)}");
        Row($"L2 hit (value in Redis, memory tier skipped), one caller: p50 of {s.L2Calls} calls", results,
            l => $"{Median(l, r => r.L2HitP50Us) / 1000:F2} ms{Ratio(results, l, r => r.L2HitP50Us)}");
        Row("Redis commands executed per L2 hit (server side)", results, l => Commands(l, r => r.CommandsPerL2Hit, "F2"));
        Row($"Set on node A -> nodes B and C see it (p50 of {s.SeeSamples})", results, l => Seen(l, s));
        Row($"Value in Redis right after a Set with a {s.ShortDuration.TotalSeconds:0.#} s duration", results,
            l => l.All(r => r.InRedisAfterShortSet) ? "yes" : l.All(r => !r.InRedisAfterShortSet) ? "**no**" : "sometimes");
        Row($"Landing page, {PeersSettings.LandingProcesses} processes x {PeersSettings.LandingWorkers} workers, {s.LandingSeconds:0.#} s, {s.ShortDuration.TotalSeconds:0.#} s duration: calls > 100 ms (factory runs)", results,
            l => $"{Median(l, r => r.LandingSlowCalls):0.#} ({Median(l, r => r.LandingRuns):0.#})");
        Row($"Steady state, {PeersSettings.Processes} x {PeersSettings.SteadyLoops} loops, {PeersSettings.SteadyKeys} keys, {s.ShortDuration.TotalSeconds:0.#} s duration, {s.SteadySeconds:0.#} s: calls/s", results,
            l => $"{Median(l, r => r.SteadyOpsPerSecond) / 1e6:F2} M{Ratio(results, l, r => r.SteadyOpsPerSecond)}");
        Row("Same: Redis commands per 1k calls", results, l => Commands(l, r => r.SteadyCommandsPer1kCalls, "F3"));
        Console.WriteLine();

        Console.WriteLine("Per round:");
        Console.WriteLine();
        Console.WriteLine("| Round | Library | Cold runs | Cold ms (each process) | L2 hit p50 µs | Commands per L2 hit | Seen by B and C p50 ms | Landing calls | > 100 ms | Landing runs | Steady calls/s | Commands per 1k calls | In Redis after the Set |");
        Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            Console.WriteLine($"| {r.Round + 1} | {r.Library} | {r.ColdRuns} | {r.ColdMs:F0} ({string.Join("/", r.ColdMsPerProcess.Select(ms => ms.ToString("F0")))}) | {r.L2HitP50Us:F0} | {r.CommandsPerL2Hit.Values.Sum():F2} | {(r.SeenP50Ms is { } ms ? ms.ToString("F1") : "never")} | {r.LandingCalls} | {r.LandingSlowCalls} | {r.LandingRuns} | {r.SteadyOpsPerSecond:F0} | {r.SteadyCommandsPer1kCalls.Values.Sum():F3} | {(r.InRedisAfterShortSet ? "yes" : "no")} |");
        }

        Console.WriteLine();
    }

    private static void Row(string name, IReadOnlyList<PeerRoundResult> results, Func<List<PeerRoundResult>, string> cell) =>
        Console.WriteLine($"| {name} | {string.Join(" | ", new[] { PeerLibrary.StampedeGuard, PeerLibrary.FusionCache, PeerLibrary.HybridCache }.Select(l => cell([.. results.Where(r => r.Library == l)])))} |");

    /// <summary>The median over rounds of this library's value divided by StampedeGuard's in the same round.</summary>
    private static string Ratio(IReadOnlyList<PeerRoundResult> all, List<PeerRoundResult> mine, Func<PeerRoundResult, double> value)
    {
        if (mine[0].Library == PeerLibrary.StampedeGuard)
        {
            return "";
        }

        var ratios = mine.Select(r => value(r) / value(all.Single(b => b.Round == r.Round && b.Library == PeerLibrary.StampedeGuard))).ToList();
        return $" ({Median(ratios, x => x):F2}x)";
    }

    /// <summary>The median total, then each command's median (those that round to zero left out).</summary>
    private static string Commands(List<PeerRoundResult> mine, Func<PeerRoundResult, IReadOnlyDictionary<string, double>> counts, string format)
    {
        var names = mine.SelectMany(r => counts(r).Keys).Distinct().Order();
        var parts = names.Select(n => (Name: n, Value: Median(mine, r => counts(r).GetValueOrDefault(n)))).Where(p => p.Value.ToString(format) != 0.0.ToString(format));
        return $"{Median(mine, r => counts(r).Values.Sum()).ToString(format)} ({string.Join(", ", parts.Select(p => $"{p.Name} {p.Value.ToString(format)}"))})";
    }

    private static string Seen(List<PeerRoundResult> mine, PeersSettings s)
    {
        var seen = mine.Where(r => r.SeenP50Ms is not null).Select(r => r.SeenP50Ms!.Value).ToList();
        return seen.Count == 0 ? $"never (not within {s.SeeTimeout.TotalSeconds:0.#} s: no backplane)"
            : $"{Median(seen, x => x):F1} ms{(seen.Count < mine.Count ? $" ({mine.Count - seen.Count} rounds never)" : "")}";
    }

    private static double Median<T>(IEnumerable<T> items, Func<T, double> value)
    {
        var sorted = items.Select(value).Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Version(params string[] typeNames)
    {
        foreach (var name in typeNames)
        {
            var assembly = name.Contains(',') ? Type.GetType(name)?.Assembly : Assembly.Load(name);
            if (assembly?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion is { } version)
            {
                return version.Split('+')[0];
            }
        }

        return "?";
    }
}
