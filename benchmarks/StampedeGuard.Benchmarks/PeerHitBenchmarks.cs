using BenchmarkDotNet.Attributes;
using StampedeGuard.Benchmarks.Peers;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// A fresh hit on one key, one thread, the four libraries side by side. Baseline: <c>IMemoryCache.TryGetValue</c>,
/// the least a cache can do. Each library's own get-or-create call, as its docs recommend (see the peer classes).
/// </summary>
public class PeerHitBenchmarks
{
    private const string Key = "landing-page";
    private readonly Page _page = new("<html>landing</html>");
    private MemoryCachePeer _memory = null!;
    private HybridCachePeer _hybrid = null!;
    private FusionCachePeer _fusion = null!;
    private StampedeGuardPeer _guard = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        (_memory, _hybrid, _fusion, _guard) = (new(_page), new(_page), new(_page), new(_page));
        foreach (var peer in new CachePeer[] { _memory, _hybrid, _fusion, _guard })
        {
            _ = await peer.GetOrCreateAsync(Key);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _memory.Dispose();
        _hybrid.Dispose();
        _fusion.Dispose();
        _guard.Dispose();
    }

    [Benchmark(Baseline = true, Description = "IMemoryCache.TryGetValue")]
    public Page MemoryCache() => _memory.Hit(Key);

    [Benchmark(Description = "HybridCache.GetOrCreateAsync (TState)")]
    public Page HybridCache() => _hybrid.Hit(Key);

    [Benchmark(Description = "FusionCache.GetOrSetAsync")]
    public Page FusionCache() => _fusion.Hit(Key);

    [Benchmark(Description = "StampedeCache.GetOrCreateAsync (TState)")]
    public Page StampedeGuard() => _guard.Hit(Key);
}
