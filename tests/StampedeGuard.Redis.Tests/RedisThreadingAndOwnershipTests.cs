using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using StackExchange.Redis;
using StampedeGuard.Distributed;
using StampedeGuard.Locking;
using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport.Redis;
using Xunit.Abstractions;

namespace StampedeGuard.Redis.Tests;

/// <summary>The caller's code cannot stall Redis or lose the lease; the tier never disposes a connection it does not own.</summary>
[Collection("redis-alone")]
public sealed class RedisThreadingAndOwnershipTests(RedisFixture redis, ITestOutputHelper output) : RedisTierTestBase(redis)
{
    [Fact]
    public async Task AcquireAsync_SynchronousCriticalSectionLongerThanLease_LeaseKeptAndOtherConnectionCannotAcquire()
    {
        // Two tiers, two multiplexers: as two processes would have. The holder's log shows when the watchdog extended.
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(logs));
        var holderTier = await TierAsync(loggers: loggers);
        var holder = new RedisStampedeLock(holderTier);
        var other = new RedisStampedeLock(await TierAsync());
        var lease = TimeSpan.FromSeconds(2);
        var acquired = new TaskCompletionSource<DateTimeOffset>(TaskCreationOptions.RunContinuationsAsynchronously);
        var critical = Task.Run(async () =>
        {
            await using var held = await holder.AcquireAsync("report", new StampedeLockOptions { LeaseDuration = lease }).ConfigureAwait(false);
            acquired.SetResult(DateTimeOffset.UtcNow);

            // The scenario itself, not a wait for an ordering: the caller's 6 s of synchronous work, three leases long,
            // on whatever thread the await above resumed on.
            Thread.Sleep(TimeSpan.FromSeconds(6));
            return held.LeaseLost.IsCancellationRequested;
        });
        var heldSince = await acquired.Task;

        var ping = await holderTier.Connection!.GetDatabase().PingAsync();
        var contender = Stopwatch.StartNew();
        var act = () => other.AcquireAsync("report", new StampedeLockOptions { LeaseDuration = lease, WaitTimeout = TimeSpan.FromSeconds(3) }).AsTask();
        var contention = await Record.ExceptionAsync(act);
        var contended = contender.Elapsed;
        string Extensions() => string.Join(", ", LeaseExtensions(logs).Select(r => $"{(r.Timestamp - heldSince).TotalMilliseconds:F0} ms"));
        contention.Should().BeOfType<StampedeLockTimeoutException>("the watchdog kept extending the lease while the holder's code ran (a {0} ms lease, extended at [{1}] after it was taken)", lease.TotalMilliseconds, Extensions());
        var lost = await critical;
        output.WriteLine($"PING on the holder's connection during the critical section: {ping.TotalMilliseconds:F1} ms; contender gave up after {contended.TotalMilliseconds:F0} ms; lease extended at [{Extensions()}] after it was taken");

        lost.Should().BeFalse("the lease was never lost");
        ping.Should().BeLessThan(TimeSpan.FromSeconds(1), "the holder's code does not run on the thread that reads Redis replies");
        (await Redis.Server.CliAsync("exists", Prefix + "lock:{report}")).Trim().Should().Be("0", "released at the end");
    }

    [Fact]
    public async Task PublicAwaits_Complete_ContinuationsRunOnThreadPoolNotOnTheClientsThreads()
    {
        var tier = await TierAsync();
        var locks = new RedisStampedeLock(tier);
        var offPool = await Task.Run(async () =>
        {
            var seen = new List<string>();
            void Check(string call)
            {
                if (!Thread.CurrentThread.IsThreadPoolThread)
                {
                    seen.Add($"{call} on '{Thread.CurrentThread.Name}'");
                }
            }

            for (var i = 0; i < 20; i++)
            {
                await tier.ReadAsync($"k{i}", new DistributedReadOptions { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = TimeSpan.FromSeconds(10) }, default).ConfigureAwait(false);
                Check("ReadAsync");
                await tier.WriteAsync($"k{i}", new byte[] { 1 }, new DistributedWriteOptions { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = DateTimeOffset.UtcNow.AddMinutes(1), Notify = true }, default).ConfigureAwait(false);
                Check("WriteAsync");
                await tier.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Remove, Key = $"k{i}" }, default).ConfigureAwait(false);
                Check("RemoveAsync");
                var lease = await locks.AcquireAsync($"j{i}").ConfigureAwait(false);
                Check("AcquireAsync");
                await lease.DisposeAsync().ConfigureAwait(false);
                Check("ReleaseAsync");
            }

            return seen;
        });

        offPool.Should().BeEmpty();
    }

    [Fact]
    public async Task ReadAsync_L2Hit_ResumesOnTheReplysThreadPoolThreadWithoutASecondHop()
    {
        // An L2 hit is one HMGET; the client hands its reply to the thread pool, and the caller resumes right there:
        // the guard adds no hop of its own (a hop is a thread-pool wake-up per hit: the cost issue 18 measured).
        var tier = await TierAsync();
        await tier.WriteAsync("hit", new byte[] { 1, 2, 3 }, new DistributedWriteOptions { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = DateTimeOffset.UtcNow.AddMinutes(1) }, default);
        var (hops, offPool) = await Task.Run(async () =>
        {
            var offPool = 0;
            var before = tier.GuardHops;
            for (var i = 0; i < 50; i++)
            {
                var read = await tier.ReadAsync("hit", new DistributedReadOptions { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = TimeSpan.FromSeconds(10) }, default).ConfigureAwait(false);
                read.Envelope.Should().Equal(1, 2, 3);
                read.Stamp.Should().Be(0, "answered by the plain read");
                offPool += Thread.CurrentThread.IsThreadPoolThread ? 0 : 1;
            }

            return (tier.GuardHops - before, offPool);
        });

        hops.Should().Be(0, "a call answered by Redis resumes on the thread-pool thread the client dispatched its reply to");
        offPool.Should().Be(0, "never on the client's own threads");
    }

    [Fact]
    public async Task ReadAsync_L2HitCallerBlocks_RedisRepliesStillArrive()
    {
        // The caller of a hit blocks synchronously where its await resumed: were that the client's reader, every reply
        // on the connection (a PING here) would wait for it.
        var tier = await TierAsync();
        await tier.WriteAsync("hit", new byte[] { 1 }, new DistributedWriteOptions { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = DateTimeOffset.UtcNow.AddMinutes(1) }, default);
        var resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = Task.Run(async () =>
        {
            await tier.ReadAsync("hit", default, default).ConfigureAwait(false);
            resumed.SetResult();
            Thread.Sleep(TimeSpan.FromSeconds(3)); // the scenario: a caller's synchronous work after a hit
        });
        await resumed.Task;

        var ping = await tier.Connection!.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var hit = Stopwatch.StartNew();
        (await tier.ReadAsync("hit", default, default).AsTask().WaitAsync(TimeSpan.FromSeconds(10))).Envelope.Should().Equal(1);
        var read = hit.Elapsed;
        await blocker;

        ping.Should().BeLessThan(TimeSpan.FromSeconds(1), "the hit's caller does not run on the thread that reads Redis replies");
        read.Should().BeLessThan(TimeSpan.FromSeconds(1), "another hit on the same connection is answered meanwhile");
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.ClientPause)]
    public async Task RunAsync_CallTimedOut_CallerResumesThroughAHopOffTheTimersThread()
    {
        // A timeout completes the call from a timer's thread: the caller is handed to the thread pool, not run there.
        var tier = await TierAsync(configure: o => { o.OperationTimeout = TimeSpan.FromMilliseconds(200); o.HeartbeatInterval = Timeout.InfiniteTimeSpan; }); // no heartbeat: its calls time out too
        await tier.ReadAsync("slow", default, default); // connected and warm: the hop below is the timeout's
        var before = tier.GuardHops;
        await Redis.Server.CliAsync("client", "pause", "3000", "all");
        DistributedReadResult read;
        try
        {
            read = await tier.ReadAsync("slow", default, default);
        }
        finally
        {
            await Redis.Server.CliAsync("client", "unpause");
        }

        read.Outcome.Should().Be(DistributedOutcome.Unavailable, "the call timed out");
        (tier.GuardHops - before).Should().Be(1, "the timed-out call resumed its caller through the guard's hop");
    }

    [Fact]
    public async Task DisposeAsync_ApplicationsMultiplexer_LeftOpenAndUsableWithoutException()
    {
        await using var application = await ConnectionMultiplexer.ConnectAsync(Redis.Server.Configuration);
        var tier = new RedisStampedeTier(application, new RedisStampedeOptions { KeyPrefix = Prefix });
        using (var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier))
        {
            (await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1))).Should().Be(1);
        }

        await tier.DisposeAsync();
        tier.Dispose();

        application.IsConnected.Should().BeTrue();
        (await application.GetDatabase().HashExistsAsync(Prefix + "{k}:v", "v")).Should().BeTrue();
    }

    [Fact]
    public async Task AddRedis_RegisteredMultiplexer_ProviderDisposalLeavesItOpen()
    {
        var application = await ConnectionMultiplexer.ConnectAsync(Redis.Server.Configuration);
        var services = new ServiceCollection();
        services.AddSingleton<IConnectionMultiplexer>(application);
        services.AddStampedeGuard().AddRedis(o => o.KeyPrefix = Prefix);
        await using (var provider = services.BuildServiceProvider())
        {
            provider.GetRequiredService<RedisStampedeTier>().OwnsConnection.Should().BeFalse();
            (await provider.GetRequiredService<IStampedeCache>().GetOrCreateAsync("k", _ => ValueTask.FromResult(2))).Should().Be(2);
            await using var lease = await provider.GetRequiredService<IStampedeLock>().AcquireAsync("job");
        }

        application.IsConnected.Should().BeTrue();
        await application.GetDatabase().PingAsync();
        await application.DisposeAsync();
    }

    [Fact]
    public async Task DisposeAsync_OwnConnection_Closed()
    {
        var tier = await Redis.NewTierAsync(Prefix);
        var connection = tier.Connection!;
        connection.IsConnected.Should().BeTrue();

        await tier.DisposeAsync();

        connection.IsConnected.Should().BeFalse();
    }
}
