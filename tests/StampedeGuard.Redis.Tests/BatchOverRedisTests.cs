using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// GetOrCreateManyAsync over real Redis, with several caches as several nodes: the per-key guarantees of the
/// single-key pipeline (single-flight across nodes, fencing, invalidation wins) hold per key of a batch.
/// </summary>
[Collection("redis")]
public sealed class BatchOverRedisTests(RedisFixture redis) : RedisTierTestBase(redis)
{
    private static readonly StampedeCacheEntryOptions Entry = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };

    private async Task<(StampedeCache Cache, RedisStampedeTier Tier)> NodeAsync(TimeSpan? lease = null, TimeProvider? tierTime = null)
    {
        var tier = await TierAsync(time: tierTime);
        return (new StampedeCache(new StampedeCacheOptions { DistributedLockLease = lease ?? TimeSpan.FromSeconds(10) }, distributedStore: tier, backplane: tier), tier);
    }

    /// <summary>A batch factory held until the test opens its gate; it counts its calls and records their keys.</summary>
    private sealed class HeldBatch
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<IReadOnlyList<string>> _calls = [];

        public IReadOnlyList<IReadOnlyList<string>> Calls
        {
            get
            {
                lock (_calls)
                {
                    return [.. _calls];
                }
            }
        }

        public void Release() => _gate.TrySetResult();

        public async ValueTask<IReadOnlyDictionary<string, string>> InvokeAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
        {
            lock (_calls)
            {
                _calls.Add([.. keys]);
            }

            await _gate.Task.WaitAsync(cancellationToken);
            return keys.ToDictionary(k => k, k => "batch:" + k, StringComparer.Ordinal);
        }
    }

    [Fact]
    public async Task GetOrCreateManyAsync_OtherNodeLeadsOneKey_ThatKeyComputedOnceAcrossNodesAndLeftOutOfTheBatch()
    {
        var (a, _) = await NodeAsync();
        var (b, _) = await NodeAsync();
        using var nodeA = a;
        using var nodeB = b;
        var bGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bRuns = 0;
        var bCall = nodeB.GetOrCreateAsync("k1", async ct =>
        {
            Interlocked.Increment(ref bRuns);
            await bGate.Task.WaitAsync(ct);
            return "b:k1";
        }, Entry).AsTask();
        await Poll.UntilAsync(() => Volatile.Read(ref bRuns) == 1, "node B to lead k1 (its factory running, the barrier held)");
        var batch = new HeldBatch();
        batch.Release();

        var call = nodeA.GetOrCreateManyAsync<string>(["k1", "k2", "k3"], batch.InvokeAsync, Entry).AsTask();

        // A's factory runs while B still holds k1: A waits for B's k1 on the barrier instead of computing it.
        await Poll.UntilAsync(() => batch.Calls.Count == 1, "node A's batch factory to run for the keys nobody else leads");
        batch.Calls[0].Should().Equal("k2", "k3");
        bGate.SetResult();
        var result = await Poll.Within(call, "node A's batch");
        result.Should().BeEquivalentTo(new Dictionary<string, string> { ["k1"] = "b:k1", ["k2"] = "batch:k2", ["k3"] = "batch:k3" });
        (await bCall).Should().Be("b:k1");
        bRuns.Should().Be(1);
        batch.Calls.Should().HaveCount(1);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_BatchLeadsKeys_OtherNodeWaitsOnTheBarrierAndGetsTheBatchValue()
    {
        var (a, _) = await NodeAsync();
        var (b, tierB) = await NodeAsync();
        using var nodeA = a;
        using var nodeB = b;
        var batch = new HeldBatch();
        var call = nodeA.GetOrCreateManyAsync<string>(["k1", "k2"], batch.InvokeAsync, Entry).AsTask();
        await Poll.UntilAsync(() => batch.Calls.Count == 1, "node A's batch factory to run (A holds both barriers)");
        var bRuns = 0;

        var bCall = nodeB.GetOrCreateAsync("k2", _ => ValueTask.FromResult("b:" + Interlocked.Increment(ref bRuns)), Entry).AsTask();
        await Poll.UntilAsync(() => tierB.Waits.Count == 1, "node B to find k2's barrier held and wait for the value");
        batch.Release();

        (await Poll.Within(bCall, "node B's call")).Should().Be("batch:k2");
        (await Poll.Within(call, "node A's batch")).Should().BeEquivalentTo(new Dictionary<string, string> { ["k1"] = "batch:k1", ["k2"] = "batch:k2" });
        bRuns.Should().Be(0, "k2 was computed once across both nodes, by A's batch");
        batch.Calls.Should().ContainSingle().Which.Should().Equal("k1", "k2");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_LeaseLostWhileBatchFactoryRuns_FencedWriteRefusedAndNewerValueSurvives()
    {
        // Node A's tier clock never moves, so its watchdog never extends the lease: a GC pause or a partition.
        var (a, _) = await NodeAsync(lease: TimeSpan.FromMilliseconds(500), tierTime: new FakeTimeProvider(DateTimeOffset.UtcNow));
        var (b, _) = await NodeAsync();
        var (c, _) = await NodeAsync();
        using var nodeA = a;
        using var nodeB = b;
        using var nodeC = c;
        var batch = new HeldBatch();
        var call = nodeA.GetOrCreateManyAsync<string>(["k", "other"], batch.InvokeAsync, Entry).AsTask();
        await Poll.UntilAsync(() => batch.Calls.Count == 1, "node A's batch factory to run (A holds the barriers)");

        // B waits out A's lease in Redis, then takes the barrier and writes a newer value.
        (await Poll.Within(nodeB.GetOrCreateAsync("k", _ => ValueTask.FromResult("newer"), Entry).AsTask(), "node B's call")).Should().Be("newer");
        batch.Release();

        (await Poll.Within(call, "node A's batch"))["k"].Should().Be("batch:k", "a run's own callers get its result");
        var cRuns = 0;
        (await nodeC.GetOrCreateAsync("k", _ => ValueTask.FromResult("c:" + ++cRuns), Entry)).Should().Be("newer", "A's late write was refused by its lease token");
        (await nodeA.GetOrCreateAsync("k", _ => ValueTask.FromResult("a-again"), Entry)).Should().Be("newer", "A kept nothing of its refused run locally");
        cRuns.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_RemoveOnOtherNodeWhileBatchFactoryRuns_BatchValueOfThatKeyStoredNowhere()
    {
        var (a, _) = await NodeAsync();
        var (b, _) = await NodeAsync();
        var (c, _) = await NodeAsync();
        using var nodeA = a;
        using var nodeB = b;
        using var nodeC = c;
        var batch = new HeldBatch();
        var call = nodeA.GetOrCreateManyAsync<string>(["k1", "k2"], batch.InvokeAsync, Entry).AsTask();
        await Poll.UntilAsync(() => batch.Calls.Count == 1, "node A's batch factory to run");

        await nodeB.RemoveAsync("k1");
        batch.Release();

        (await Poll.Within(call, "node A's batch")).Should().BeEquivalentTo(new Dictionary<string, string> { ["k1"] = "batch:k1", ["k2"] = "batch:k2" });
        (await nodeC.GetOrCreateAsync("k1", _ => ValueTask.FromResult("after-remove"), Entry)).Should().Be("after-remove", "the removal wins over the run that started before it");
        (await nodeA.GetOrCreateAsync("k1", _ => ValueTask.FromResult("a-after-remove"), Entry)).Should().NotBe("batch:k1");
        (await nodeC.GetOrCreateAsync("k2", _ => ValueTask.FromResult("never"), Entry)).Should().Be("batch:k2");
    }
    /// <summary>
    /// A batch that is a node's very first read of stored values: the store's "clear everything" record is read once,
    /// shared by every key decoded meanwhile (before, each stored key of the batch sent its own read of it).
    /// </summary>
    [Fact]
    public async Task GetOrCreateManyAsync_FirstReadOfAFreshNode_ReadsTheClearEverythingRecordOnce()
    {
        var (writer, _) = await NodeAsync();
        using (writer)
        {
            var keys = Enumerable.Range(0, 50).Select(i => "fresh" + i).ToArray();
            foreach (var key in keys)
            {
                await writer.SetAsync(key, "stored:" + key, Entry);
            }

            var tier = await TierAsync();
            var store = new TagReadCountingStore(tier);
            using var node = new StampedeCache(new StampedeCacheOptions(), distributedStore: store, backplane: tier);

            var values = await node.GetOrCreateManyAsync<string>(keys, (_, _) => throw new InvalidOperationException("all stored"), Entry);

            values.Values.Should().OnlyContain(v => v.StartsWith("stored:fresh", StringComparison.Ordinal));
            store.TagReads.Should().Be(1);
            (await node.GetOrCreateAsync("fresh0", _ => ValueTask.FromResult("never"), Entry)).Should().Be("stored:fresh0");
            store.TagReads.Should().Be(1, "known from then on: the backplane keeps it current");
        }
    }

    /// <summary>The tier as a store, counting its reads of tag records.</summary>
    private sealed class TagReadCountingStore(RedisStampedeTier tier) : StampedeGuard.Distributed.IStampedeDistributedStore
    {
        private int _tagReads;

        public int TagReads => Volatile.Read(ref _tagReads);

        public bool SupportsLocking => tier.SupportsLocking;

        public ValueTask<StampedeGuard.Distributed.DistributedReadResult> ReadAsync(string key, StampedeGuard.Distributed.DistributedReadOptions options, CancellationToken cancellationToken) => tier.ReadAsync(key, options, cancellationToken);

        public ValueTask<StampedeGuard.Distributed.DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, StampedeGuard.Distributed.DistributedWriteOptions options, CancellationToken cancellationToken) => tier.WriteAsync(key, envelope, options, cancellationToken);

        public ValueTask<StampedeGuard.Distributed.DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken) => tier.WaitForValueAsync(key, maxWait, cancellationToken);

        public ValueTask<StampedeGuard.Distributed.DistributedInvalidationResult> InvalidateAsync(StampedeGuard.Distributed.DistributedInvalidation invalidation, CancellationToken cancellationToken) => tier.InvalidateAsync(invalidation, cancellationToken);

        public ValueTask<StampedeGuard.Distributed.DistributedTagsResult> ReadTagInvalidationsAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _tagReads);
            return tier.ReadTagInvalidationsAsync(tags, cancellationToken);
        }
    }
}
