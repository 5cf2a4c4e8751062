using System.Diagnostics;
using System.Globalization;
using StampedeGuard.Benchmarks.Peers;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// <c>--peers</c>, misses and memory: every library gets a fresh cache and the same distinct keys (1,000,000 by
/// default), each asked twice (miss then hit), with a synchronous and an asynchronous factory; libraries run in a new
/// random order every round. Then the bytes each cached entry keeps alive: the heap after a full GC with every key
/// cached, minus the heap before (the keys and the one shared value exist before, so only the library's bytes count).
/// StampedeGuard runs twice: with its defaults (a 256 MiB L1 limit, which 1,000,000 entries of an unsized value
/// exceed, so it evicts) and with the limit raised so that nothing is evicted, as in the other libraries, which
/// bound nothing by default. Only the second keeps the same entries as they do. A last row calls StampedeGuard through
/// the HybridCache abstraction from DI (<c>AddStampedeGuard()</c>), as HybridCache's own row does, limit raised too.
/// </summary>
public static class MissRunner
{
    /// <summary>Measures throughput over <paramref name="rounds"/> rounds of <paramref name="keyCount"/> keys, then memory per entry.</summary>
    public static void Run(int keyCount, int rounds)
    {
        var page = new Page("<html>miss</html>");
        var keys = Enumerable.Range(0, keyCount).Select(i => "key:" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var names = CachePeer.Names.Append("StampedeGuard, L1 limit 2 GiB (nothing evicted)").Append("StampedeGuard as HybridCache (AddStampedeGuard, L1 limit 2 GiB)").ToArray();
        CachePeer Create(int i) => i switch
        {
            _ when i < CachePeer.Names.Length => CachePeer.Create(i, page),
            4 => new StampedeGuardPeer(page, 2L << 30),
            _ => new StampedeGuardHybridPeer(page, 2L << 30),
        };
        foreach (var asyncFactory in new[] { false, true })
        {
            var rates = names.Select(_ => new List<double>()).ToArray();
            for (var round = 0; round < rounds; round++)
            {
                foreach (var i in Enumerable.Range(0, names.Length).OrderBy(_ => Random.Shared.Next()))
                {
                    using var peer = Create(i);
                    rates[i].Add(keyCount / Time(peer, keys, asyncFactory) / 1e6);
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Misses, {keyCount:N0} distinct keys, miss then hit each, {(asyncFactory ? "asynchronous (Task.Yield)" : "synchronous")} factory, {rounds} rounds (interleaved): million keys per second."));
            Console.WriteLine();
            Console.WriteLine("| Library | Median M keys/s | min-max | Ratio to IMemoryCache (per round, median) | Ratio to HybridCache (per round, median, min-max) |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            var hybrid = Array.IndexOf(names, "HybridCache");
            for (var i = 0; i < names.Length; i++)
            {
                var ratio = rates[i].Zip(rates[0], (a, b) => a / b).Order().ToArray();
                var toHybrid = rates[i].Zip(rates[hybrid], (a, b) => a / b).Order().ToArray();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {names[i]} | {Median(rates[i]):0.000} | {rates[i].Min():0.000}-{rates[i].Max():0.000} | {ratio[ratio.Length / 2]:0.00}x | {toHybrid[toHybrid.Length / 2]:0.00}x ({toHybrid[0]:0.00}-{toHybrid[^1]:0.00}) |"));
            }

            Console.WriteLine();
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Memory per cached entry, {keyCount:N0} keys, after a full GC (key strings and the shared value excluded)."));
        Console.WriteLine();
        Console.WriteLine("| Library | Bytes per entry |");
        Console.WriteLine("|---|---:|");
        for (var i = 0; i < names.Length; i++)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {names[i]} | {BytesPerEntry(Create(i), keys):0} |"));
        }

        Console.WriteLine();
    }

    private static double Time(CachePeer peer, string[] keys, bool asyncFactory)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var start = Stopwatch.GetTimestamp();
        PeerMissBenchmarks.MissThenHit(peer, keys, asyncFactory).GetAwaiter().GetResult(); // a console runner: nothing to deadlock
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static double BytesPerEntry(CachePeer peer, string[] keys)
    {
        var warmUp = Enumerable.Range(0, 1000).Select(i => "warm:" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        PeerMissBenchmarks.MissThenHit(peer, warmUp, asyncFactory: false).GetAwaiter().GetResult(); // code paths and lazy state first
        var before = FullGcHeap();
        PeerMissBenchmarks.MissThenHit(peer, keys, asyncFactory: false).GetAwaiter().GetResult();
        var after = FullGcHeap();
        GC.KeepAlive(peer);
        peer.Dispose();
        return (after - before) / (double)keys.Length;
    }

    private static long FullGcHeap()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
}
