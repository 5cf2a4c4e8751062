using BenchmarkDotNet.Attributes;
using StampedeGuard.Benchmarks.Peers;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// A cold key with 1,000 and 10,000 concurrent callers: all call before the factory completes, then it completes once
/// and every caller gets the value. One invocation is one whole flight (divide by the callers for per-caller figures;
/// <c>--peers</c> measures the release-to-last-caller time alone). Throws if a library ran the factory more than once.
/// </summary>
public class PeerColdKeyBenchmarks
{
    private readonly Page _page = new("<html>cold</html>");
    private CachePeer[] _peers = null!;
    private ValueTask<Page>[] _waits = null!;
    private int _round;

    [Params(1_000, 10_000)]
    public int Callers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _peers = CachePeer.CreateAll(_page);
        _waits = new ValueTask<Page>[Callers];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var peer in _peers)
        {
            peer.Dispose();
        }
    }

    [Benchmark(Baseline = true, Description = "double-checked SemaphoreSlim + IMemoryCache, one flight")]
    public Task MemoryCache() => Flight(_peers[0]);

    [Benchmark(Description = "HybridCache, one flight")]
    public Task HybridCache() => Flight(_peers[1]);

    [Benchmark(Description = "FusionCache, one flight")]
    public Task FusionCache() => Flight(_peers[2]);

    [Benchmark(Description = "StampedeGuard, one flight")]
    public Task StampedeGuard() => Flight(_peers[3]);

    private async Task Flight(CachePeer peer)
    {
        var key = "cold:" + ++_round;
        var gate = new Gate();
        for (var i = 0; i < Callers; i++)
        {
#pragma warning disable CA2012 // each ValueTask is awaited exactly once, below
            _waits[i] = peer.GetOrCreateGatedAsync(key, gate);
#pragma warning restore CA2012
        }

        gate.Open(_page);
        foreach (var wait in _waits)
        {
            _ = await wait;
        }

        if (gate.Runs != 1)
        {
            throw new InvalidOperationException($"{peer.Name}: {gate.Runs} factory runs for one cold key.");
        }
    }
}
