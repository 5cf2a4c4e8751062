using Microsoft.Extensions.Logging;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Locking;
using StampedeGuard.Redis.Tests.Infrastructure;

namespace StampedeGuard.Redis.Tests;

/// <summary>The engine over the Redis tier: several caches (as several nodes would have) on one Redis.</summary>
[Collection("redis")]
public sealed class CacheOverRedisTests(RedisFixture redis) : IAsyncLifetime
{
    private readonly string _prefix = RedisFixture.NewPrefix();
    private readonly List<IAsyncDisposable> _owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var item in _owned)
        {
            await item.DisposeAsync();
        }
    }

    private async Task<StampedeCache> NodeAsync()
    {
        var tier = await redis.NewTierAsync(_prefix);
        _owned.Add(tier);
        return new StampedeCache(new StampedeCacheOptions { DistributedLockLease = TimeSpan.FromSeconds(10) }, distributedStore: tier, backplane: tier);
    }

    private static readonly StampedeCacheEntryOptions Entry = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };

    [Fact]
    public async Task GetOrCreateAsync_ConcurrentMissOnFourNodes_OneFactoryRun()
    {
        var nodes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => NodeAsync()));
        var runs = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = Enumerable.Range(0, 32).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            return await nodes[i % 4].GetOrCreateAsync("hot", async ct =>
            {
                Interlocked.Increment(ref runs);
                await Task.Delay(300, ct);
                return "value";
            }, Entry);
        })).ToArray();

        gate.SetResult();
        var values = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(30));

        runs.Should().Be(1);
        values.Should().AllBe("value");
    }

    [Fact]
    public async Task GetOrCreateAsync_BarrierSkipped_OneRunPerNode()
    {
        var nodes = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => NodeAsync()));
        var runs = 0;
        var allInside = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = Entry.Clone();
        options.SkipDistributedLock = true;

        var values = await Task.WhenAll(nodes.Select(node => node.GetOrCreateAsync("hot", async ct =>
        {
            if (Interlocked.Increment(ref runs) == 3)
            {
                allInside.SetResult();
            }

            await allInside.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
            return "value";
        }, options).AsTask())).WaitAsync(TimeSpan.FromSeconds(30));

        runs.Should().Be(3, "without the barrier each node computes its own miss");
        values.Should().AllBe("value");
    }

    [Fact]
    public async Task GetOrCreateAsync_StaleOnTwoNodes_OneBackgroundRefreshAcrossNodes()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMilliseconds(500), StaleWhileRevalidate = TimeSpan.FromMinutes(1), EarlyRefreshBeta = 0 };
        var runs = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<int> Factory(CancellationToken ct)
        {
            var run = Interlocked.Increment(ref runs);
            if (run > 1)
            {
                await gate.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
            }

            return run;
        }

        (await a.GetOrCreateAsync("k", Factory, entry)).Should().Be(1);
        (await b.GetOrCreateAsync("k", Factory, entry)).Should().Be(1, "b reads a's value from Redis");
        var freshUntil = long.Parse((await redis.Server.CliAsync("hget", _prefix + "{k}:v", "f")).Trim());
        var untilStale = DateTimeOffset.FromUnixTimeMilliseconds(freshUntil) - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(50);
        if (untilStale > TimeSpan.Zero)
        {
            await Task.Delay(untilStale);
        }

        // Both nodes serve the stale value at once and try to refresh in the background; the barrier lets one run.
        var stale = await Task.WhenAll(a.GetOrCreateAsync("k", Factory, entry).AsTask(), b.GetOrCreateAsync("k", Factory, entry).AsTask());
        await WaitUntilAsync(() => Volatile.Read(ref runs) >= 2);
        gate.SetResult();
        await WaitUntilAsync(async () => await a.GetOrCreateAsync("k", Factory, entry) == 2 && await b.GetOrCreateAsync("k", Factory, entry) == 2);

        stale.Should().Equal(1, 1);
        runs.Should().Be(2, "one initial run and one refresh across both nodes");
    }

    private static async Task WaitUntilAsync(Func<bool> condition) => await WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!await condition())
        {
            stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(20));
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task SetAsync_OnOneNode_ReachesOtherNodesL1InOneMessage()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        (await b.GetOrCreateAsync("k", _ => ValueTask.FromResult("old"), Entry)).Should().Be("old");
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = ((RedisStampedeTier)_owned[1]).Subscribe(m => { if (m.Key == "k") { arrived.TrySetResult(); } });

        await a.SetAsync("k", "new", Entry);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await redis.Server.CliAsync("del", _prefix + "{k}:v");

        (await b.TryGetAsync<string>("k")).Value.Should().Be("new", "the message carried the value into b's L1");
    }

    [Fact]
    public async Task RemoveByTagAsync_OnOneNode_OtherNodeRecomputesTaggedEntries()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var tagged = Entry.Clone();
        tagged.Tags = ["product:1"];
        var version = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(Interlocked.Increment(ref version));
        (await b.GetOrCreateAsync("price", Factory, tagged)).Should().Be(1);
        (await b.GetOrCreateAsync("untagged", Factory, Entry)).Should().Be(2);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = ((RedisStampedeTier)_owned[1]).Subscribe(m => { if (m.Key == "product:1") { arrived.TrySetResult(); } });

        await a.RemoveByTagAsync("product:1");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(5));

        (await b.GetOrCreateAsync("price", Factory, tagged)).Should().Be(3);
        (await b.GetOrCreateAsync("untagged", Factory, Entry)).Should().Be(2);
    }

    [Fact]
    public async Task ExpireAsync_OnOneNode_OtherNodeServesStaleAndRefreshesOnce()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), StaleWhileRevalidate = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };
        var version = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(Interlocked.Increment(ref version));
        (await a.GetOrCreateAsync("k", Factory, entry)).Should().Be(1);
        (await b.GetOrCreateAsync("k", Factory, entry)).Should().Be(1);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = ((RedisStampedeTier)_owned[1]).Subscribe(m => { if (m.Kind == Distributed.BackplaneMessageKind.Expire && m.Key == "k") { arrived.TrySetResult(); } });

        await a.ExpireAsync("k");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var served = await b.GetOrCreateAsync("k", Factory, entry);
        await WaitUntilAsync(async () => await b.GetOrCreateAsync("k", Factory, entry) == 2);

        served.Should().Be(1, "the expired value is served stale while one refresh runs");
        version.Should().Be(2);
    }

    [Fact]
    public async Task RemoveAsync_OnOneNode_OtherNodeRecomputes()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var version = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(Interlocked.Increment(ref version));
        (await a.GetOrCreateAsync("k", Factory, Entry)).Should().Be(1);
        (await b.GetOrCreateAsync("k", Factory, Entry)).Should().Be(1, "b reads a's value from Redis");

        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = ((RedisStampedeTier)_owned[1]).Subscribe(m => { if (m.Key == "k" && m.Kind == Distributed.BackplaneMessageKind.Remove) { removed.TrySetResult(); } }); // not a late Set from the first write
        await a.RemoveAsync("k");
        await removed.Task.WaitAsync(TimeSpan.FromSeconds(5));

        (await b.GetOrCreateAsync("k", Factory, Entry)).Should().Be(2);
    }

    [Fact]
    public async Task GetOrCreateAsync_ValueWrittenByOneNode_ReachesOtherNodesL1ByBackplane()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = ((RedisStampedeTier)_owned[1]).Subscribe(m => { if (m.Key == "k") { arrived.TrySetResult(); } });

        await a.GetOrCreateAsync("k", _ => ValueTask.FromResult("from-a"), Entry);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await redis.Server.CliAsync("del", _prefix + "{k}:v");

        var atB = await b.GetOrCreateAsync("k", _ => ValueTask.FromResult("from-b"), Entry);

        atB.Should().Be("from-a", "the backplane message carried the value into b's local tier");
    }

    [Fact]
    public async Task AddRedis_RegistersTierBackplaneAndLock()
    {
        var services = new ServiceCollection();
        services.AddStampedeGuard(o => o.KeyPrefix = "app:").AddRedis(o => { o.Configuration = redis.Server.Configuration; o.KeyPrefix = _prefix; o.OperationTimeout = TimeSpan.FromSeconds(5); });
        await using var provider = services.BuildServiceProvider();

        var cache = provider.GetRequiredService<IStampedeCache>();
        var locks = provider.GetRequiredService<IStampedeLock>();

        // The DI tier connects without blocking startup (a slow connect is a miss, not an error): wait until it is up.
        var tier = provider.GetRequiredService<RedisStampedeTier>();
        await WaitUntilAsync(() => tier.Connection?.IsConnected == true);
        await tier.Subscribed;
        var value = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(7), Entry);
        await using var lease = await locks.AcquireAsync("job");

        value.Should().Be(7);
        locks.Should().BeOfType<RedisStampedeLock>();
        provider.GetRequiredService<Distributed.IStampedeDistributedStore>().Should().BeSameAs(provider.GetRequiredService<RedisStampedeTier>());
        (await redis.Server.CliAsync("exists", _prefix + "{app:k}:v")).Trim().Should().Be("1", "the engine prefixes its keys; the tier adds its own prefix and the hash tag");
        (await redis.Server.CliAsync("exists", _prefix + "lock:{job}")).Trim().Should().Be("1");
    }

    [Theory]
    [InlineData("set", "not ours")]
    [InlineData("hset", "v", "garbage", "f", "99999999999999")]
    public async Task GetOrCreateAsync_CorruptValueUnderOurKey_IsAMissAndLogged(string command, params string[] arguments)
    {
        using var loggers = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var factory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(loggers));
        var tier = await redis.NewTierAsync(_prefix, loggerFactory: factory);
        _owned.Add(tier);
        using var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier, loggerFactory: factory);
        await redis.Server.CliAsync([command, _prefix + "{k}:v", .. arguments]);

        var value = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("computed"), Entry);

        value.Should().Be("computed");
        loggers.Collector.GetSnapshot().Should().Contain(r => r.Id.Id == 103 || r.Id.Id == 6, "the Redis tier (wrong type) or the engine (bad envelope) logs it");
        (await redis.Server.CliAsync("type", _prefix + "{k}:v")).Trim().Should().Be("hash", "the leader's write replaced it");
    }

    [Theory]
    [InlineData("hset", "f", "garbage")]
    [InlineData("hset", "f", "-1")]
    [InlineData("hset", "f", "inf")]
    [InlineData("hset", "f", "nan")]
    [InlineData("hdel", "f")]
    public async Task GetOrCreateAsync_InconsistentFreshUntilField_IsAMissAndRepaired(string command, params string[] arguments)
    {
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(Interlocked.Increment(ref runs));
        var writer = await NodeAsync();
        (await writer.GetOrCreateAsync("k", Factory, Entry)).Should().Be(1);
        var valueKey = _prefix + "{k}:v";
        await redis.Server.CliAsync([command, valueKey, .. arguments]);

        var reader = await NodeAsync(); // its own L1: it reads Redis
        var value = await reader.GetOrCreateAsync("k", Factory, Entry);

        value.Should().Be(2, "an envelope with an inconsistent fresh-until is a miss: the factory runs");
        runs.Should().Be(2);
        double.Parse((await redis.Server.CliAsync("hget", valueKey, "f")).Trim(), System.Globalization.CultureInfo.InvariantCulture).Should().BeGreaterThan(0, "the leader's write repaired the field");
    }

    [Fact]
    public async Task Options_InvalidValues_ThrowNamingTheOption()
    {
        var options = new RedisStampedeOptions();

        options.Invoking(o => o.OperationTimeout = TimeSpan.Zero).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("OperationTimeout");
        options.Invoking(o => o.CircuitBreakerFailureRatio = 0).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("CircuitBreakerFailureRatio");
        options.Invoking(o => o.CircuitBreakerBreakDuration = TimeSpan.FromMilliseconds(1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("CircuitBreakerBreakDuration");
        options.Invoking(o => o.MaximumNotificationPayloadBytes = -1).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("MaximumNotificationPayloadBytes");
        await FluentActions.Awaiting(() => RedisStampedeTier.ConnectAsync(options)).Should().ThrowAsync<ArgumentException>();
    }
}
