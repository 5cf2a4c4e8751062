using BenchmarkDotNet.Attributes;
using StampedeGuard.Benchmarks.Peers;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// A fresh hit on one key from N threads at once (2 and every core of the machine). A fixed number of calls per
/// invocation is split over the threads, so the figure is wall-clock time per call: it falls with N when a hit writes
/// no shared memory, and stays flat or rises when the threads fight over a cache line.
/// </summary>
public class PeerParallelHitBenchmarks
{
    private const string Key = "landing-page";
    private const int Calls = 200_000;
    private readonly Page _page = new("<html>landing</html>");
    private CachePeer[] _peers = null!;

    /// <summary>Threads: 2, and every core when the machine has more.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    public static IEnumerable<int> ThreadCounts => new[] { 2, Environment.ProcessorCount }.Distinct();

    [GlobalSetup]
    public async Task Setup()
    {
        _peers = CachePeer.CreateAll(_page);
        foreach (var peer in _peers)
        {
            _ = await peer.GetOrCreateAsync(Key);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var peer in _peers)
        {
            peer.Dispose();
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Calls, Description = "IMemoryCache.TryGetValue, N threads")]
    public void MemoryCache() => Run((MemoryCachePeer)_peers[0]);

    [Benchmark(OperationsPerInvoke = Calls, Description = "HybridCache, N threads")]
    public void HybridCache() => Run((HybridCachePeer)_peers[1]);

    [Benchmark(OperationsPerInvoke = Calls, Description = "FusionCache, N threads")]
    public void FusionCache() => Run((FusionCachePeer)_peers[2]);

    [Benchmark(OperationsPerInvoke = Calls, Description = "StampedeGuard, N threads")]
    public void StampedeGuard() => Run((StampedeGuardPeer)_peers[3]);

    private void Run<TPeer>(TPeer peer)
        where TPeer : CachePeer => Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, part =>
        {
            for (var i = 0; i < Calls / Threads; i++)
            {
                _ = peer.Hit(Key);
            }
        });
}
