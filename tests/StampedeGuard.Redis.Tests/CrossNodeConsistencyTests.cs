using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// The invalidation model across nodes (docs/redis.md, "The consistency model across nodes"), one promise per test,
/// each race forced with gates: several caches (as several processes would have) on one real Redis.
/// </summary>
[Collection("redis")]
public sealed partial class CrossNodeConsistencyTests(RedisFixture redis) : IAsyncLifetime
{
    private static readonly StampedeCacheEntryOptions Entry = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0, Tags = ["t"] };
    private readonly string _prefix = RedisFixture.NewPrefix();
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<StampedeCache> _caches = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var cache in _caches)
        {
            cache.Dispose();
        }

        foreach (var item in _owned)
        {
            await item.DisposeAsync();
        }
    }

    private async Task<StampedeCache> NodeAsync(Action<RedisStampedeOptions>? configure = null, IMeterFactory? meters = null)
    {
        var tier = await redis.NewTierAsync(_prefix, configure);
        _owned.Add(tier);
        var cache = new StampedeCache(new StampedeCacheOptions { DistributedLockLease = TimeSpan.FromSeconds(10) }, distributedStore: tier, backplane: tier, meterFactory: meters);
        _caches.Add(cache);
        return cache;
    }

    /// <summary>Starts a run on <paramref name="node"/> whose factory waits for <paramref name="release"/> and returns <paramref name="value"/>.</summary>
    private static (Task<string> Call, Task Started) HeldRun(StampedeCache node, string key, string value, Task release)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = node.GetOrCreateAsync(key, async ct =>
        {
            started.TrySetResult();
            await release.WaitAsync(ct);
            return value;
        }, Entry).AsTask();
        return (call, started.Task);
    }

    private async Task<string?> StoredAsync(string key) =>
        (await redis.Server.CliAsync("hget", _prefix + "{" + key + "}:v", "v")).Trim() is { Length: > 0 } text ? text : null;

    [Theory]
    [InlineData("remove")]
    [InlineData("set")]
    [InlineData("expire")]
    [InlineData("tag")]
    public async Task Invalidation_ReturnsWhileAnotherNodesRunIsInFlight_TheOlderRunStoresNothingAnywhere(string invalidation)
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (run, started) = HeldRun(b, "k", "old-run", release.Task);
        await Poll.Within(started, "node B's factory to start");

        switch (invalidation)
        {
            case "remove": await a.RemoveAsync("k"); break;
            case "set": await a.SetAsync("k", "newer", Entry); break;
            case "expire": await a.ExpireAsync("k"); break;
            default: await a.RemoveByTagAsync("t"); break;
        }

        release.SetResult();
        (await Poll.Within(run, "node B's run")).Should().Be("old-run", "the run still answers the callers that joined it");

        var expected = invalidation == "set" ? "newer" : null;
        (await a.TryGetAsync<string>("k")).Value.Should().Be(expected, "node A, where the invalidation returned, must not see the older run's value");

        // Node B is another node: its own memory copy obeys within the delivery bound (docs/redis.md: 500 ms).
        var delivery = System.Diagnostics.Stopwatch.StartNew();
        await UntilAsync(async () => (await b.TryGetAsync<string>("k")).Value == expected, "node B no longer serves its older run's value");
        delivery.Elapsed.Should().BeLessThan(TimeSpan.FromMilliseconds(500), "the delivery bound");
        var fresh = await NodeAsync();
        (await fresh.TryGetAsync<string>("k")).Value.Should().Be(expected, "nor may a node that starts later");
        if (invalidation != "set")
        {
            (await StoredAsync("k") ?? string.Empty).Should().NotContain("old-run", "Redis must not hold the older run's value");
        }
    }

    /// <summary>
    /// The read-then-store pattern across nodes (what the HTTP cache does with an origin response): node A begins a
    /// condition, reads its source, node B invalidates, node A stores what it read. The store must be refused, by the
    /// message when A hears it first, and by Redis's write script when A has no backplane (so only Redis can refuse).
    /// </summary>
    [Theory]
    [InlineData("remove", true)]
    [InlineData("set", true)]
    [InlineData("expire", true)]
    [InlineData("tag", true)]
    [InlineData("remove", false)]
    [InlineData("set", false)]
    [InlineData("expire", false)]
    [InlineData("tag", false)]
    public async Task SetIfUnchangedAsync_AnotherNodeInvalidatedAfterTheConditionBegan_StoresNothingAnywhere(string invalidation, bool writerHasBackplane)
    {
        var tier = await redis.NewTierAsync(_prefix);
        _owned.Add(tier);
        var a = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: writerHasBackplane ? tier : null);
        _caches.Add(a);
        var b = await NodeAsync();
        await b.SetAsync("k", "before", Entry);
        using var condition = await a.BeginConditionalWriteAsync();

        switch (invalidation)
        {
            case "remove": await b.RemoveAsync("k"); break;
            case "set": await b.SetAsync("k", "newer", Entry); break;
            case "expire": await b.ExpireAsync("k"); break;
            default: await b.RemoveByTagAsync("t"); break;
        }

        var stored = await a.SetIfUnchangedAsync("k", "read-before", condition, Entry);

        stored.Should().BeFalse();
        (await StoredAsync("k") ?? string.Empty).Should().NotContain("read-before", "Redis must not hold the value read before the invalidation");
        (await a.TryGetAsync<string>("k")).Value.Should().NotBe("read-before");
        (await b.TryGetAsync<string>("k")).Value.Should().NotBe("read-before");
    }

    [Fact]
    public async Task SetIfUnchangedAsync_NothingChanged_StoredInRedisAndSeenByOtherNodes()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        using var condition = await a.BeginConditionalWriteAsync();

        (await a.SetIfUnchangedAsync("k", "read", condition, Entry)).Should().BeTrue();

        (await StoredAsync("k") ?? string.Empty).Should().Contain("read");
        (await b.TryGetAsync<string>("k")).Value.Should().Be("read");
    }

    [Fact]
    public async Task SetThenRemove_PublishedBackToBack_EveryOtherNodeEndsWithTheRemoval()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var localOnly = new StampedeCacheEntryOptions { SkipDistributedCache = true };
        const int Keys = 300;
        for (var i = 0; i < Keys; i++)
        {
            (await b.GetOrCreateAsync($"o{i}", _ => ValueTask.FromResult("b's copy"), Entry)).Should().Be("b's copy");
        }

        for (var i = 0; i < Keys; i++)
        {
            await a.SetAsync($"o{i}", "set", Entry);
            await a.RemoveAsync($"o{i}");
        }

        // The client may hand B the messages concurrently, in any order: B orders each key's changes by their versions.
        // A Set applied after its Remove would leave its value on B for good, so wait (bounded) until none is left.
        var survivors = new List<string>();
        await UntilAsync(async () =>
        {
            survivors.Clear();
            for (var i = 0; i < Keys; i++)
            {
                if ((await b.TryGetAsync<string>($"o{i}", localOnly)).HasValue)
                {
                    survivors.Add($"o{i}");
                }
            }

            return survivors.Count == 0;
        }, $"node B has applied every removal (left: {string.Join(", ", survivors.Take(10))})");

        survivors.Should().BeEmpty("node B applies a key's changes in Redis's order: the removal comes last");
    }

    [Fact]
    public async Task RemoveByTag_NodeStartedAfterIt_HonoursIt()
    {
        var a = await NodeAsync();
        (await a.GetOrCreateAsync("tagged", _ => ValueTask.FromResult("before"), Entry)).Should().Be("before");
        await a.RemoveByTagAsync("t");

        var later = await NodeAsync();
        (await later.TryGetAsync<string>("tagged")).HasValue.Should().BeFalse("the tag invalidation lives in Redis");
        var runs = 0;
        (await later.GetOrCreateAsync("tagged", _ => { runs++; return ValueTask.FromResult("after"); }, Entry)).Should().Be("after");
        runs.Should().Be(1);
    }

    [Fact]
    public async Task RemoveByTag_WriterClockTwoSecondsAhead_EntryIsInvalidatedAnyway()
    {
        var ahead = new SkewedClock(TimeSpan.FromSeconds(2));
        var tier = await redis.NewTierAsync(_prefix);
        _owned.Add(tier);
        using var writer = new StampedeCache(new StampedeCacheOptions { TimeProvider = ahead }, distributedStore: tier, backplane: tier);
        var b = await NodeAsync();
        (await writer.GetOrCreateAsync("skewed", _ => ValueTask.FromResult("from the future"), Entry)).Should().Be("from the future");

        await b.RemoveByTagAsync("t");

        (await b.TryGetAsync<string>("skewed")).HasValue.Should().BeFalse("invalidations are ordered on Redis's clock, not a node's");
        var fresh = await NodeAsync();
        (await fresh.TryGetAsync<string>("skewed")).HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task Heartbeat_RedisEpochGoesBack_NodesDropTheirCopiesAndNothingStoredBeforeIsServed()
    {
        var a = await NodeAsync(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(100));
        var b = await NodeAsync(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(100));
        (await a.GetOrCreateAsync("old", _ => ValueTask.FromResult("before the rollback"), Entry)).Should().Be("before the rollback");
        (await b.TryGetAsync<string>("old")).Value.Should().Be("before the rollback");
        await UntilAsync(async () => long.TryParse((await redis.Server.CliAsync("get", _prefix + "__epoch")).Trim(), out var n) && n > 4, "a few heartbeats");

        // What a restore from an older snapshot (or a failover to a lagging replica) looks like to the nodes.
        await redis.Server.CliAsync("set", _prefix + "__epoch", "1");

        await UntilAsync(async () => !(await a.TryGetAsync<string>("old")).HasValue, "node A stops serving what was stored before the rollback");
        var sinceA = System.Diagnostics.Stopwatch.StartNew();
        await UntilAsync(async () => !(await b.TryGetAsync<string>("old")).HasValue, "node B too (its own heartbeat, or A's store-wide invalidation)");
        sinceA.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(1), "within about one heartbeat of the first node (100 ms here; a loaded machine is slower)");
        var later = await NodeAsync();
        (await later.TryGetAsync<string>("old")).HasValue.Should().BeFalse("the store-wide invalidation lives in Redis");
    }

    [Fact]
    public async Task Subscription_KilledAndRestored_NodeDropsItsCopiesAndReadsRedisAgain()
    {
        var a = await NodeAsync(o => o.HeartbeatInterval = Timeout.InfiniteTimeSpan); // connection events alone
        var b = await NodeAsync(o => o.HeartbeatInterval = Timeout.InfiniteTimeSpan);
        (await b.GetOrCreateAsync("copy", _ => ValueTask.FromResult("v1"), Entry)).Should().Be("v1");
        var localOnly = new StampedeCacheEntryOptions { SkipDistributedCache = true };

        await redis.Server.CliAsync("client", "kill", "type", "pubsub");
        await UntilAsync(async () => !(await b.TryGetAsync<string>("copy", localOnly)).HasValue, "node B drops its copy when its subscription breaks");
        (await a.TryGetAsync<string>("copy")).Value.Should().Be("v1", "Redis still has the value: nothing was lost");
    }

    [Fact]
    public async Task LocalCopies_NoWordFromTheBackplaneForThreeHeartbeatIntervals_DroppedBeforeAnyIsServed()
    {
        // What a process paused past its heartbeats (SIGSTOP, a long GC pause) finds when it runs again: its engine
        // clock moved on, its own heartbeat did not come back in time. Real heartbeats every second, a hand-moved
        // engine clock; the sequence runs right after a heartbeat came back, a second before the next. The trust it
        // gives is three intervals from its sending, less the time it took to come back (longer on a loaded machine).
        var clock = new FakeTimeProvider();
        var tier = await redis.NewTierAsync(_prefix, o => o.HeartbeatInterval = TimeSpan.FromSeconds(1));
        _owned.Add(tier);
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }, distributedStore: tier, backplane: tier);
        var alive = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = tier.Subscribe(m =>
        {
            if (m.Kind == Distributed.BackplaneMessageKind.Alive)
            {
                alive.TrySetResult(m.Timestamp); // handlers run in order: the cache (subscribed first) has taken it
            }
        });
        var localOnly = new StampedeCacheEntryOptions { SkipDistributedCache = true };
        await cache.SetAsync("copy", "v1", new StampedeCacheEntryOptions { Duration = TimeSpan.FromHours(1) });
        var trust = TimeSpan.FromTicks(await Poll.Within(alive.Task, "the node hears its own heartbeat"));
        trust.Should().BeGreaterThan(TimeSpan.FromSeconds(2), "a heartbeat back within a second trusts for most of three intervals");

        clock.Advance(trust - TimeSpan.FromSeconds(0.1));
        (await cache.TryGetAsync<string>("copy", localOnly)).Value.Should().Be("v1", "within three intervals of the last heartbeat the copy is trusted");
        clock.Advance(TimeSpan.FromSeconds(0.2));

        (await cache.TryGetAsync<string>("copy", localOnly)).HasValue.Should().BeFalse("past three intervals without a word the copies are dropped before serving");
        (await cache.TryGetAsync<string>("copy")).Value.Should().Be("v1", "Redis still has it: nothing was lost");
    }

    /// <summary>
    /// What a process stopped past its trust period (SIGSTOP, a long GC pause) reads first when it runs again: its own
    /// heartbeat, sent before the pause, then the invalidations published during it. The heartbeat says only that
    /// nothing published before it was *sent* was lost; trusting copies (and runs in flight) for three intervals from its
    /// arrival let the resumed node serve values another node had removed seconds before (the history checker's
    /// StopWorker violation). Here the late heartbeat is the node's own, published again as it would arrive after a
    /// 31 s pause (its send time 31 s old, three intervals being 30 s): it must end the node's trust, not extend it.
    /// </summary>
    [Fact]
    public async Task Heartbeat_OwnHeartbeatArrivingPastTheTrustPeriod_EndsTrustInsteadOfExtendingIt()
    {
        var tier = await redis.NewTierAsync(_prefix, o => o.HeartbeatInterval = TimeSpan.FromSeconds(10));
        _owned.Add(tier);
        using var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);
        var alive = Channel.CreateUnbounded<long>();
        using var watch = tier.Subscribe(m =>
        {
            if (m.Kind == Distributed.BackplaneMessageKind.Alive)
            {
                alive.Writer.TryWrite(m.Timestamp); // handlers run in order: the cache (subscribed first) has taken it
            }
        });
        var localOnly = new StampedeCacheEntryOptions { SkipDistributedCache = true };
        var first = await Poll.Within(alive.Reader.ReadAsync().AsTask(), "the node hears its first heartbeat");
        first.Should().BeGreaterThan(TimeSpan.FromSeconds(29).Ticks, "a heartbeat heard at once trusts for nearly three intervals");
        await cache.SetAsync("copy", "v1", new StampedeCacheEntryOptions { Duration = TimeSpan.FromHours(1) });
        (await cache.TryGetAsync<string>("copy", localOnly)).Value.Should().Be("v1", "trusted: the copy is served");

        var sentBeforeThePause = TimeProvider.System.GetTimestamp() - (long)(31 * TimeProvider.System.TimestampFrequency);
        await using (var publisher = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Server.Configuration))
        {
            var late = Internal.Notification.Encode(Internal.Notification.Heartbeat, tier.InstanceId, 0, sentBeforeThePause, string.Empty, null);
            await publisher.GetSubscriber().PublishAsync(StackExchange.Redis.RedisChannel.Literal(_prefix + "__notify"), late);
        }

        var trust = await Poll.Within(alive.Reader.ReadAsync().AsTask(), "the late heartbeat arrives");
        trust.Should().BeLessThan(TimeSpan.TicksPerMillisecond, "a heartbeat sent longer ago than the trust period vouches for nothing after it was sent");
        (await cache.TryGetAsync<string>("copy", localOnly)).HasValue.Should().BeFalse("the copy may have been invalidated while the node was stopped: dropped before it is served");
        (await cache.TryGetAsync<string>("copy")).Value.Should().Be("v1", "Redis still has it: nothing was lost");
    }

    /// <summary>
    /// A run superseded by a removal stores nothing, so it gives up the key's barrier at once: the next caller (on the
    /// same node, or on the node that removed the key) runs its own factory instead of waiting, with no LockTimeout, for
    /// a run whose value will be thrown away. Before, it waited until the superseded run ended.
    /// </summary>
    [Theory]
    [InlineData("the running node")]
    [InlineData("another node")]
    public async Task GetOrCreateAsync_KeyRemovedWhileARunHoldsTheBarrier_NextCallerRunsAtOnce(string where)
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (held, started) = HeldRun(a, "k", "before the removal", release.Task);
        await Poll.Within(started, "node A's run starts");
        var next = where == "the running node" ? a : b;

        await next.RemoveAsync("k");
        var patient = new StampedeCacheEntryOptions { Duration = Entry.Duration, EarlyRefreshBeta = 0, LockTimeout = Timeout.InfiniteTimeSpan };
        var after = next.GetOrCreateAsync("k", _ => ValueTask.FromResult("after the removal"), patient).AsTask();

        (await Poll.Within(after, "the next caller gets a run of its own while the superseded run still holds its factory")).Should().Be("after the removal");
        release.SetResult();
        (await held).Should().Be("before the removal", "the superseded run still answers its own caller");
        (await StoredAsync("k") ?? string.Empty).Should().Contain("after the removal");
    }

    /// <summary>
    /// A node that never hears its own heartbeat (here its client's channel prefix puts its subscription on another
    /// channel than the heartbeats its script publishes) drops its copies from the second interval on, but warns (117)
    /// only after ten intervals: silence before a node first heard itself is start-up on a busy or shared connection.
    /// Before, the warning came within the first two or three intervals of every such start.
    /// </summary>
    [Fact]
    public async Task Heartbeat_NeverHeardSinceStart_WarnedOnceAndOnlyAfterTenIntervals()
    {
        var interval = TimeSpan.FromMilliseconds(100);
        var configuration = StackExchange.Redis.ConfigurationOptions.Parse(redis.Server.Configuration);
        configuration.ChannelPrefix = StackExchange.Redis.RedisChannel.Literal("elsewhere:");
        await using var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(configuration);
        using var logs = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var loggers = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs));
        await using var tier = new RedisStampedeTier(multiplexer, new RedisStampedeOptions { KeyPrefix = _prefix, HeartbeatInterval = interval }, loggers);
        using var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);

        await Poll.UntilAsync(() => logs.Collector.GetSnapshot().Any(r => r.Id.Id == 117), "the silence is reported");

        var warnings = logs.Collector.GetSnapshot().Where(r => r.Id.Id == 117).ToList();
        warnings.Should().ContainSingle("once per silence");
        var silence = warnings[0].StructuredState!.Single(p => p.Key == "SilentMilliseconds").Value;
        double.Parse(silence!, System.Globalization.CultureInfo.InvariantCulture).Should().BeGreaterThan(10 * interval.TotalMilliseconds, "start-up silence is not warned about before ten intervals");
    }

    /// <summary>Waits (bounded by <see cref="Poll.Timeout"/>) until an asynchronous condition holds.</summary>
    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > Poll.Timeout)
            {
                throw new Xunit.Sdk.XunitException($"Timed out waiting until {what}.");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>A clock whose wall time runs ahead of the system's by a fixed offset (monotonic time unchanged).</summary>
    private sealed class SkewedClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;
    }
}
