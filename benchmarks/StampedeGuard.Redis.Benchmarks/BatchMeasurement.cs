using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using StampedeGuard.TestSupport.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace StampedeGuard.Redis.Benchmarks;

/// <summary>
/// 100 keys, 90 of them in Redis (written earlier by another node), 10 missing, asked for by 3 nodes at the same time
/// (3 caches in this process, each on its own connection, as 3 processes would have; the benchmark has no worker
/// processes). The origin costs a fixed delay per query, whatever the number of ids in it. Compared, same run, rounds
/// interleaved: one StampedeGuard GetOrCreateManyAsync per node; 100 StampedeGuard GetOrCreateAsync per node
/// (concurrent, then sequential); HybridCache 10.11 over RedisCache and FusionCache 2.9 over RedisCache (no backplane,
/// no distributed locker: their defaults) doing the same with their single-key GetOrCreate, concurrent and sequential.
/// Counted per round: origin queries and keys computed (3 nodes), commands the 3 clients sent (StackExchange.Redis
/// counters), wall time until all 3 nodes have the 100 values. Optionally every client goes through a link that
/// delays replies (LatencyEndPoint), where time is dominated by the round trips waited for one after the other.
/// </summary>
internal static class BatchMeasurement
{
    private const int Keys = 100;
    private const int Stored = 90;
    private const int Nodes = 3;

    public static async Task RunAsync(RedisServer server, int rounds, TimeSpan originDelay, TimeSpan latency)
    {
        using var link = latency > TimeSpan.Zero ? LatencyEndPoint.Start(server.EndPoint, latency) : null;
        var configuration = link is null ? server.Configuration : $"{link.EndPoint},connectTimeout=10000,syncTimeout=10000";
        var muxes = new List<ConnectionMultiplexer>();
        async Task<ConnectionMultiplexer> ConnectAsync()
        {
            var mux = await ConnectionMultiplexer.ConnectAsync(configuration);
            muxes.Add(mux);
            return mux;
        }

        // StampedeGuard: one tier per node (its own connection and subscription); a cache per round, created after the
        // seeding so that the 90 values are in Redis and not in the nodes' L1.
        var seedMux = await ConnectAsync();
        var tierOptions = new RedisStampedeOptions { KeyPrefix = "batch:", HeartbeatInterval = Timeout.InfiniteTimeSpan, OperationTimeout = TimeSpan.FromSeconds(10) };
        await using var seedTier = new RedisStampedeTier(seedMux, tierOptions);
        var nodeMuxes = new ConnectionMultiplexer[Nodes];
        var tiers = new RedisStampedeTier[Nodes];
        for (var i = 0; i < Nodes; i++)
        {
            nodeMuxes[i] = await ConnectAsync();
            tiers[i] = new RedisStampedeTier(nodeMuxes[i], tierOptions);
        }

        var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(30), EarlyRefreshBeta = 0 };
        var hybridEntry = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(30), LocalCacheExpiration = TimeSpan.FromMinutes(30) };
        var fusionEntry = new FusionCacheEntryOptions { Duration = TimeSpan.FromMinutes(30) };

        var queries = 0;
        var computed = 0;
        async ValueTask<string> OriginOne(string key, CancellationToken ct)
        {
            Interlocked.Increment(ref queries);
            Interlocked.Increment(ref computed);
            await Task.Delay(originDelay, ct);
            return "origin:" + key;
        }

        async ValueTask<IReadOnlyDictionary<string, string>> OriginMany(IReadOnlyList<string> keys, CancellationToken ct)
        {
            Interlocked.Increment(ref queries);
            Interlocked.Add(ref computed, keys.Count);
            await Task.Delay(originDelay, ct);
            return keys.ToDictionary(k => k, k => "origin:" + k, StringComparer.Ordinal);
        }

        // HybridCache and FusionCache: each node its own instance over its own RedisCache connection; new instances per round.
        async Task<(HybridCache Cache, ServiceProvider Provider, ConnectionMultiplexer Mux)> HybridNodeAsync()
        {
            var mux = await ConnectAsync();
            var services = new ServiceCollection();
            services.AddStackExchangeRedisCache(o => { o.ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(mux); o.InstanceName = "hc:"; });
            services.AddHybridCache();
            var provider = services.BuildServiceProvider();
            return (provider.GetRequiredService<HybridCache>(), provider, mux);
        }

        async Task<(FusionCache Cache, ConnectionMultiplexer Mux)> FusionNodeAsync()
        {
            var mux = await ConnectAsync();
            var cache = new FusionCache(new FusionCacheOptions { DefaultEntryOptions = fusionEntry });
            cache.SetupDistributedCache(new RedisCache(new RedisCacheOptions { ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(mux), InstanceName = "fc:" }), new FusionCacheSystemTextJsonSerializer());
            return (cache, mux);
        }

        var hybridSeed = await HybridNodeAsync();
        var fusionSeed = await FusionNodeAsync();
        var hybridNodes = new (HybridCache Cache, ServiceProvider Provider, ConnectionMultiplexer Mux)[Nodes];
        var fusionNodes = new (FusionCache Cache, ConnectionMultiplexer Mux)[Nodes];
        for (var i = 0; i < Nodes; i++)
        {
            hybridNodes[i] = await HybridNodeAsync();
            fusionNodes[i] = await FusionNodeAsync();
        }

        Disposables? sgCaches = null;

        // Each scenario: seed 90 keys of a fresh key set, then the 3 nodes ask for the 100 keys at once.
        var scenarios = new List<Scenario>
        {
            new("StampedeGuard GetOrCreateManyAsync (one call per node)", "sg", ConnectionsOf(nodeMuxes), async (keys, round) =>
            {
                await RunNodesAsync(sgCaches!.Items.Select(c => (Func<Task>)(async () => Check(await c.GetOrCreateManyAsync<string>(keys, OriginMany, entry)))));
            }),
            new("StampedeGuard GetOrCreateAsync x100, concurrent", "sgc", ConnectionsOf(nodeMuxes), async (keys, round) =>
            {
                await RunNodesAsync(sgCaches!.Items.Select(c => (Func<Task>)(() => Task.WhenAll(keys.Select(k => c.GetOrCreateAsync(k, ct => OriginOne(k, ct), entry).AsTask())))));
            }),
            new("StampedeGuard GetOrCreateAsync x100, sequential", "sgs", ConnectionsOf(nodeMuxes), async (keys, round) =>
            {
                await RunNodesAsync(sgCaches!.Items.Select(c => (Func<Task>)(async () =>
                {
                    foreach (var k in keys)
                    {
                        await c.GetOrCreateAsync(k, ct => OriginOne(k, ct), entry);
                    }
                })));
            }),
            new("HybridCache GetOrCreateAsync x100, concurrent", "hc", ConnectionsOf(hybridNodes.Select(n => n.Mux)), async (keys, round) =>
                await RunNodesAsync(hybridNodes.Select(n => (Func<Task>)(() => Task.WhenAll(keys.Select(k => n.Cache.GetOrCreateAsync(k, ct => OriginOne(k, ct), hybridEntry).AsTask())))))),
            new("HybridCache GetOrCreateAsync x100, sequential", "hcs", ConnectionsOf(hybridNodes.Select(n => n.Mux)), async (keys, round) =>
                await RunNodesAsync(hybridNodes.Select(n => (Func<Task>)(async () =>
                {
                    foreach (var k in keys)
                    {
                        await n.Cache.GetOrCreateAsync(k, ct => OriginOne(k, ct), hybridEntry);
                    }
                })))),
            new("FusionCache GetOrSetAsync x100, concurrent", "fc", ConnectionsOf(fusionNodes.Select(n => n.Mux)), async (keys, round) =>
                await RunNodesAsync(fusionNodes.Select(n => (Func<Task>)(() => Task.WhenAll(keys.Select(k => n.Cache.GetOrSetAsync<string>(k, async (_, ct) => await OriginOne(k, ct), fusionEntry).AsTask())))))),
            new("FusionCache GetOrSetAsync x100, sequential", "fcs", ConnectionsOf(fusionNodes.Select(n => n.Mux)), async (keys, round) =>
                await RunNodesAsync(fusionNodes.Select(n => (Func<Task>)(async () =>
                {
                    foreach (var k in keys)
                    {
                        await n.Cache.GetOrSetAsync<string>(k, async (_, ct) => await OriginOne(k, ct), fusionEntry);
                    }
                })))),
        };

        async Task SeedAsync(string tag, string[] keys)
        {
            using var seed = new StampedeCache(new StampedeCacheOptions(), distributedStore: seedTier, backplane: seedTier);
            foreach (var key in keys.Take(Stored))
            {
                switch (tag[0])
                {
                    case 's':
                        await seed.SetAsync(key, "stored:" + key, entry);
                        break;
                    case 'h':
                        await hybridSeed.Cache.SetAsync(key, "stored:" + key, hybridEntry);
                        break;
                    default:
                        await fusionSeed.Cache.SetAsync(key, "stored:" + key, fusionEntry);
                        break;
                }
            }
        }

        // StampedeGuard's nodes: caches created after the seeding (so the 90 values are in Redis, not pushed into their L1)
        // and warmed with one read of a stored value (a node reads the store's "clear everything" record once in its life).
        async Task PrepareStampedeAsync()
        {
            sgCaches = new Disposables(tiers.Select(t => new StampedeCache(new StampedeCacheOptions(), distributedStore: t, backplane: t)));
            foreach (var cache in sgCaches.Items)
            {
                await cache.GetOrCreateAsync("warm", _ => ValueTask.FromResult("warm"), entry);
            }
        }

        using (var warm = new StampedeCache(new StampedeCacheOptions(), distributedStore: seedTier, backplane: seedTier))
        {
            await warm.SetAsync("warm", "warm", entry);
        }

        // Warm-up round (connections, scripts loaded, JIT), not counted; then interleaved rounds, order rotated.
        for (var round = -1; round < rounds; round++)
        {
            for (var s = 0; s < scenarios.Count; s++)
            {
                var scenario = scenarios[(s + Math.Max(round, 0)) % scenarios.Count];
                var keys = Enumerable.Range(0, Keys).Select(i => $"{scenario.Tag}{round}:k{i}").ToArray();
                await SeedAsync(scenario.Tag, keys);
                if (scenario.Tag[0] == 's')
                {
                    await PrepareStampedeAsync();
                }

                (queries, computed) = (0, 0);
                var sent = scenario.Sent();
                var started = Stopwatch.GetTimestamp();
                await scenario.Run(keys, round);
                var elapsed = Stopwatch.GetElapsedTime(started);
                if (round >= 0)
                {
                    scenario.Samples.Add((elapsed.TotalMilliseconds, queries, computed, scenario.Sent() - sent));
                }

                sgCaches?.Dispose();
                sgCaches = null;
            }
        }

        Console.WriteLine($"## Batch: 100 keys (90 in Redis, 10 missing) asked for by 3 nodes at once, origin {originDelay.TotalMilliseconds} ms per query, link {(latency > TimeSpan.Zero ? $"+{latency.TotalMilliseconds} ms per reply (LatencyEndPoint)" : "loopback")}, {rounds} interleaved rounds");
        Console.WriteLine();
        Console.WriteLine("| Scenario (per round: 3 nodes x 100 keys) | wall ms p50 | wall ms mean | vs GetOrCreateManyAsync (p50) | origin queries | keys computed | commands sent (3 clients) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        var baseline = Median(scenarios[0].Samples.Select(x => x.Ms));
        foreach (var scenario in scenarios)
        {
            var ms = scenario.Samples.Select(x => x.Ms).ToList();
            Console.WriteLine($"| {scenario.Name} | {Median(ms):F1} | {ms.Average():F1} | {Median(ms) / baseline:F1}x | {scenario.Samples.Average(x => x.Queries):F1} | {scenario.Samples.Average(x => x.Computed):F1} | {scenario.Samples.Average(x => x.Sent):F0} |");
        }

        Console.WriteLine();
        foreach (var tier in tiers)
        {
            await tier.DisposeAsync();
        }

        foreach (var node in hybridNodes.Append(hybridSeed))
        {
            await node.Provider.DisposeAsync();
        }

        foreach (var node in fusionNodes.Append(fusionSeed))
        {
            node.Cache.Dispose();
        }

        foreach (var mux in muxes)
        {
            await mux.DisposeAsync();
        }
    }

    private static void Check(IReadOnlyDictionary<string, string> values)
    {
        if (values.Count != Keys)
        {
            throw new InvalidOperationException($"The batch returned {values.Count} values, not {Keys}.");
        }
    }

    private static Task RunNodesAsync(IEnumerable<Func<Task>> nodes) => Task.WhenAll(nodes.Select(node => Task.Run(node)));

    private static Func<long> ConnectionsOf(IEnumerable<ConnectionMultiplexer> muxes)
    {
        var list = muxes.ToArray();
        return () => list.Sum(m => m.GetCounters().Interactive.OperationCount);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private sealed record Scenario(string Name, string Tag, Func<long> Sent, Func<string[], int, Task> Run)
    {
        public List<(double Ms, int Queries, int Computed, long Sent)> Samples { get; } = [];
    }

    private sealed class Disposables(IEnumerable<StampedeCache> items) : IDisposable
    {
        public List<StampedeCache> Items { get; } = [.. items];

        public void Dispose()
        {
            foreach (var item in Items)
            {
                item.Dispose();
            }
        }
    }
}
