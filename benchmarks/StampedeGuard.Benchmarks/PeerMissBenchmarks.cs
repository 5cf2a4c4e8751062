using BenchmarkDotNet.Attributes;
using StampedeGuard.Benchmarks.Peers;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// Misses: 100,000 distinct keys per invocation, each asked twice (a miss that runs the factory, then a hit), on a
/// fresh cache every iteration, with a factory that completes synchronously and one that really goes asynchronous.
/// Per key. <c>--peers</c> runs the same with 1,000,000 keys, interleaved.
/// </summary>
[InvocationCount(1)]
public class PeerMissBenchmarks
{
    private const int Keys = 100_000;
    private readonly Page _page = new("<html>miss</html>");
    private readonly string[] _keys = Enumerable.Range(0, Keys).Select(i => "key:" + i).ToArray();
    private CachePeer[] _peers = null!;

    [Params(false, true)]
    public bool AsyncFactory { get; set; }

    [IterationSetup]
    public void Setup() => _peers = CachePeer.CreateAll(_page);

    [IterationCleanup]
    public void Cleanup()
    {
        foreach (var peer in _peers)
        {
            peer.Dispose();
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Keys, Description = "IMemoryCache TryGetValue + Set, per key")]
    public Task MemoryCache() => MissThenHit(_peers[0], _keys, AsyncFactory);

    [Benchmark(OperationsPerInvoke = Keys, Description = "HybridCache, per key")]
    public Task HybridCache() => MissThenHit(_peers[1], _keys, AsyncFactory);

    [Benchmark(OperationsPerInvoke = Keys, Description = "FusionCache, per key")]
    public Task FusionCache() => MissThenHit(_peers[2], _keys, AsyncFactory);

    [Benchmark(OperationsPerInvoke = Keys, Description = "StampedeGuard, per key")]
    public Task StampedeGuard() => MissThenHit(_peers[3], _keys, AsyncFactory);

    /// <summary>Every key once as a miss, then once as a hit (awaited one after another, as a request would).</summary>
    public static async Task MissThenHit(CachePeer peer, string[] keys, bool asyncFactory)
    {
        foreach (var key in keys)
        {
            _ = asyncFactory ? await peer.GetOrCreateYieldingAsync(key) : await peer.GetOrCreateAsync(key);
            _ = await peer.GetOrCreateAsync(key);
        }
    }
}
