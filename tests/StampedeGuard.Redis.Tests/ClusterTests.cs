using System.Text;
using StampedeGuard.Distributed;
using StampedeGuard.Locking;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Tests;

public sealed class ClusterFixture : IAsyncLifetime
{
    public RedisClusterServer Cluster { get; private set; } = null!;

    /// <summary>On the Garnet pass every test here is skipped (<see cref="GarnetGaps.Cluster"/>): no cluster is started.</summary>
    public async Task InitializeAsync()
    {
        if (RedisServer.Flavor == RedisServerFlavor.Redis)
        {
            Cluster = await RedisClusterServer.StartAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
    }
}

/// <summary>A real 3-node Redis Cluster: every key's value and lock in one slot, keys spread over all nodes, braces in keys.</summary>
public sealed class ClusterTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>, IAsyncLifetime
{
    private readonly List<RedisStampedeTier> _tiers = [];
    private readonly string _prefix = "c" + Guid.NewGuid().ToString("N")[..6] + ":";

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var tier in _tiers)
        {
            await tier.DisposeAsync();
        }
    }

    private async Task<RedisStampedeTier> TierAsync()
    {
        var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = fixture.Cluster.Configuration, KeyPrefix = _prefix, OperationTimeout = TimeSpan.FromSeconds(5) });
        _tiers.Add(tier);
        return tier;
    }

    private async Task<StampedeCache> NodeAsync()
    {
        var tier = await TierAsync();
        return new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static DistributedReadOptions Acquire => new() { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = TimeSpan.FromSeconds(10) };

    [RedisTheory(SkipOnGarnet = GarnetGaps.Cluster)]
    [InlineData("plain")]
    [InlineData("user:{42}:profile")]
    [InlineData("}{")]
    [InlineData("{}")]
    [InlineData("a\\}b")]
    public async Task Keys_ValueAndLock_ShareASlot(string key)
    {
        var tier = await TierAsync();
        var node = fixture.Cluster.Nodes[0];

        var valueSlot = (await node.CliAsync("cluster", "keyslot", tier.Keys.Value(key))).Trim();
        var lockSlot = (await node.CliAsync("cluster", "keyslot", tier.Keys.Lock(key))).Trim();

        valueSlot.Should().Be(lockSlot);
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.Cluster)]
    public async Task LeaderAndWaiter_KeysOnEveryNode_OneRoundTripEachAndValueArrives()
    {
        var leaderTier = await TierAsync();
        var waiterTier = await TierAsync();
        var nodesUsed = new HashSet<string>();
        for (var i = 0; i < 12; i++)
        {
            var key = $"item{{{i}}}";
            var leader = await leaderTier.ReadAsync(key, Acquire, default);
            var blocked = await waiterTier.ReadAsync(key, Acquire, default);
            var wait = waiterTier.WaitForValueAsync(key, TimeSpan.FromSeconds(10), default).AsTask();
            var written = await leaderTier.WriteAsync(key, Bytes($"v{i}"), new DistributedWriteOptions { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = DateTimeOffset.UtcNow.AddMinutes(1), Lease = leader.Lease, Notify = true }, default);
            var result = await wait.WaitAsync(TimeSpan.FromSeconds(10));

            leader.Lease.Should().NotBeNull();
            blocked.LockHeldFor.Should().NotBeNull();
            (written.Outcome, written.Notified).Should().Be((DistributedOutcome.Done, true));
            written.Version.Should().BeGreaterThan(0, "Redis gives the key a new version with every write");
            result.Envelope.Should().Equal(Bytes($"v{i}"));
            var slot = int.Parse((await fixture.Cluster.Nodes[0].CliAsync("cluster", "keyslot", leaderTier.Keys.Value(key))).Trim());
            nodesUsed.Add(NodeOf(slot));
        }

        nodesUsed.Should().HaveCount(3, "the keys were spread over all three masters");
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.Cluster)]
    public async Task Lock_AcrossTiers_ExclusiveAndReleaseWakesWaiter()
    {
        var a = new RedisStampedeLock(await TierAsync());
        var b = new RedisStampedeLock(await TierAsync());
        var held = await a.AcquireAsync("job{x}", new StampedeLockOptions { LeaseDuration = TimeSpan.FromSeconds(60) });
        (await b.TryAcquireAsync("job{x}")).Should().BeNull();

        var waiting = b.AcquireAsync("job{x}", new StampedeLockOptions { LeaseDuration = TimeSpan.FromSeconds(60), WaitTimeout = TimeSpan.FromSeconds(20) }).AsTask();
        await held.DisposeAsync();
        var next = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        next.Name.Should().Be("job{x}");
        await next.DisposeAsync();
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.Cluster)]
    public async Task Cache_TwoNodesOnCluster_OneFactoryRun()
    {
        var caches = new[] { await TierAsync(), await TierAsync() }.Select(t => new StampedeCache(new StampedeCacheOptions(), distributedStore: t, backplane: t)).ToArray();
        var runs = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entry = new StampedeCacheEntryOptions { EarlyRefreshBeta = 0 };

        var calls = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            return await caches[i % 2].GetOrCreateAsync("user:{7}", async ct => { Interlocked.Increment(ref runs); await Task.Delay(300, ct); return "v"; }, entry);
        })).ToArray();
        gate.SetResult();
        var values = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(30));

        runs.Should().Be(1);
        values.Should().AllBe("v");
    }

    private string NodeOf(int slot)
    {
        // redis-cli --cluster create gives 3 masters contiguous ranges: 0-5460, 5461-10922, 10923-16383.
        return slot <= 5460 ? "a" : slot <= 10922 ? "b" : "c";
    }

    /// <summary>GetOrCreateManyAsync over keys in many slots: one command per key, no cross-slot error.</summary>
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
