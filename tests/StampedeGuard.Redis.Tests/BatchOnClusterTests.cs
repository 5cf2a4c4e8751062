using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Tests;

/// <summary>GetOrCreateManyAsync on a real 3-master Redis Cluster: keys in many slots, one command per key, no cross-slot error.</summary>
public sealed class BatchOnClusterTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>, IAsyncLifetime
{
    private readonly List<RedisStampedeTier> _tiers = [];
    private readonly string _prefix = "b" + Guid.NewGuid().ToString("N")[..6] + ":";

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var tier in _tiers)
        {
            await tier.DisposeAsync();
        }
    }

    private async Task<StampedeCache> NodeAsync()
    {
        var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = fixture.Cluster.Configuration, KeyPrefix = _prefix, OperationTimeout = TimeSpan.FromSeconds(5) });
        _tiers.Add(tier);
        return new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.Cluster)]
    public async Task GetOrCreateManyAsync_KeysOnEveryMaster_OneFactoryCallForTheMissingAndStoredForOtherNodes()
    {
        using var writer = await NodeAsync();
        var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };
        var keys = Enumerable.Range(0, 40).Select(i => "k" + i).ToArray();
        var slots = new HashSet<string>();
        foreach (var key in keys)
        {
            slots.Add((await fixture.Cluster.Nodes[0].CliAsync("cluster", "keyslot", _prefix + "{" + key + "}")).Trim());
        }

        slots.Should().HaveCountGreaterThan(20, "the keys are spread over many slots (and so over the 3 masters)");
        foreach (var key in keys.Take(30))
        {
            await writer.SetAsync(key, "stored:" + key, entry);
        }

        // Started after the writes: the 30 values are read from the cluster, not pushed into the batch node's L1.
        using var batchNode = await NodeAsync();
        using var reader = await NodeAsync();

        var calls = new List<IReadOnlyList<string>>();
        var result = await batchNode.GetOrCreateManyAsync<string>(
            keys,
            (missing, _) =>
            {
                lock (calls)
                {
                    calls.Add(missing);
                }

                return ValueTask.FromResult<IReadOnlyDictionary<string, string>>(missing.ToDictionary(k => k, k => "made:" + k));
            },
            entry).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        calls.Should().ContainSingle().Which.Should().Equal(keys.Skip(30));
        result.Should().HaveCount(40);
        result.Count(kv => kv.Value.StartsWith("stored:", StringComparison.Ordinal)).Should().Be(30);
        foreach (var key in keys.Skip(30))
        {
            (await reader.GetOrCreateAsync(key, _ => ValueTask.FromResult("never"), entry)).Should().Be("made:" + key, "the batch stored it in the cluster");
        }
    }
}
