using System.Diagnostics;
using System.Globalization;
using StampedeGuard.Benchmarks.Peers;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// <c>--peers</c>, cold key: N callers ask for a cold key whose factory waits on a gate; once all are waiting the gate
/// opens and the runner times how long until the last caller has resumed with the value, and counts the bytes the
/// whole flight allocated. Each caller is one small async method of the runner's (the same for every library); a
/// "harness only" round (the callers await the gate directly) measures that part, and it is subtracted to give the
/// library's own bytes per waiting caller. Libraries are interleaved in a new random order every round.
/// </summary>
public sealed class ColdKeyRunner
{
    private readonly Page _page = new("<html>cold</html>");
    private int _pending;
    private long _lastResumed;
    private TaskCompletionSource _allResumed = new();

    /// <summary>Runs <paramref name="rounds"/> flights of <paramref name="callers"/> callers per library and prints a table.</summary>
    public static void Run(int callers, int rounds) => new ColdKeyRunner().RunCore(callers, rounds);

    private void RunCore(int callers, int rounds)
    {
        var peers = CachePeer.CreateAll(_page);
        var names = peers.Select(p => p.Name).Append("harness only (the runner's own callers)").ToArray();
        var times = names.Select(_ => new List<double>()).ToArray();
        var bytes = names.Select(_ => new List<double>()).ToArray();
        for (var round = -3; round < rounds; round++) // three warm-up rounds, not recorded
        {
            if (round < 0)
            {
                Thread.Sleep(500); // time for the JIT's background tier-up (tier-0 code allocates what tier-1 keeps on the stack)
            }

            foreach (var i in Enumerable.Range(0, names.Length).OrderBy(_ => Random.Shared.Next()))
            {
                var (time, allocated) = Flight(i < peers.Length ? peers[i] : null, callers, $"cold:{round}:{i}");
                if (round >= 0)
                {
                    times[i].Add(time);
                    bytes[i].Add(allocated);
                }
            }
        }

        var harness = Median(bytes[^1]);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Cold key, {callers:N0} callers, {rounds} flights per library (interleaved): time from the factory's completion to the last caller resumed, and bytes per caller."));
        Console.WriteLine();
        Console.WriteLine("| Library | Median ms | p10-p90 ms | Ratio to IMemoryCache (median of per-round ratios) | Ratio to HybridCache (same) | Bytes per caller, library's own (all) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        var hybrid = Array.IndexOf(names, "HybridCache");
        for (var i = 0; i < names.Length; i++)
        {
            var t = times[i].Order().ToArray();
            var ratio = times[i].Zip(times[0], (a, b) => a / b).Order().ToArray();
            var toHybrid = times[i].Zip(times[hybrid], (a, b) => a / b).Order().ToArray();
            var own = i < peers.Length ? (Median(bytes[i]) - harness).ToString("0", CultureInfo.InvariantCulture) : "-";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {names[i]} | {t[t.Length / 2]:0.000} | {t[t.Length / 10]:0.000}-{t[t.Length * 9 / 10]:0.000} | {ratio[ratio.Length / 2]:0.00}x | {toHybrid[toHybrid.Length / 2]:0.00}x | {own} ({Median(bytes[i]):0}) |"));
        }

        Console.WriteLine();
        foreach (var peer in peers)
        {
            peer.Dispose();
        }
    }

    /// <summary>One flight; returns milliseconds from the gate opening to the last caller resumed, and bytes per caller.</summary>
    private (double Ms, double BytesPerCaller) Flight(CachePeer? peer, int callers, string key)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        _pending = callers;
        _allResumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new Gate();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < callers; i++)
        {
            _ = peer is null ? HarnessCallerAsync(gate) : CallerAsync(peer, key, gate);
        }

        var opened = Stopwatch.GetTimestamp();
        gate.Open(_page);
        _allResumed.Task.GetAwaiter().GetResult(); // a console runner: nothing to deadlock
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        if (peer is not null && gate.Runs != 1)
        {
            throw new InvalidOperationException($"{peer.Name}: {gate.Runs} factory runs for one cold key.");
        }

        return (Stopwatch.GetElapsedTime(opened, Volatile.Read(ref _lastResumed)).TotalMilliseconds, allocated / (double)callers);
    }

    private async Task CallerAsync(CachePeer peer, string key, Gate gate)
    {
        _ = await peer.GetOrCreateGatedAsync(key, gate);
        Resumed();
    }

    private async Task HarnessCallerAsync(Gate gate)
    {
        _ = await gate.RenderAsync();
        Resumed();
    }

    private void Resumed()
    {
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            Volatile.Write(ref _lastResumed, Stopwatch.GetTimestamp());
            _allResumed.SetResult();
        }
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
}
