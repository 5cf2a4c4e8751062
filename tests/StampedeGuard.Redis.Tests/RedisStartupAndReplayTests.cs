using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using StampedeGuard.Distributed;
using StampedeGuard.TestSupport.Redis;
using Xunit.Abstractions;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// Redis unreachable at startup, and requests made while it was down that must not be replayed once it is back.
/// Each test owns its server. Figures are printed to the test output (docs/redis.md quotes them).
/// </summary>
public sealed class RedisStartupAndReplayTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(2);
    private static readonly StampedeCacheEntryOptions Entry = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };
    private RedisServer _server = null!;

    public async Task InitializeAsync() => _server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task AddRedis_RedisHangsAtStartup_ResolveDoesNotBlockAndFirstCallTakesAtMostOneOperationTimeout()
    {
        // A Redis that accepts the socket and never answers: the client's default connect timeout is 5 s.
        using var hole = BlackHoleEndPoint.Start();
        var services = new ServiceCollection();
        services.AddStampedeGuard().AddRedis(o => { o.Configuration = hole.EndPoint; o.OperationTimeout = OperationTimeout; });
        await using var provider = services.BuildServiceProvider();
        var runs = 0;

        var stopwatch = Stopwatch.StartNew();
        var cache = provider.GetRequiredService<IStampedeCache>();
        var resolve = stopwatch.Elapsed;
        stopwatch.Restart();
        var value = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), Entry);
        var first = stopwatch.Elapsed;
        stopwatch.Restart();
        var second = await cache.GetOrCreateAsync("other", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), Entry);
        var next = stopwatch.Elapsed;
        output.WriteLine($"resolve {resolve.TotalMilliseconds:F0} ms, first call {first.TotalMilliseconds:F0} ms, next call {next.TotalMilliseconds:F0} ms (operation timeout {OperationTimeout.TotalMilliseconds:F0} ms)");

        value.Should().Be(1);
        second.Should().Be(2);
        resolve.Should().BeLessThan(TimeSpan.FromSeconds(1), "resolving never waits for the connect (5 s here)");
        first.Should().BeLessThan(OperationTimeout + TimeSpan.FromSeconds(1.5), "one operation timeout at most (two would be 4 s)");
        next.Should().BeLessThan(TimeSpan.FromSeconds(1), "once a wait for the connect timed out, calls fail at once until it finishes");
    }

    [Fact]
    public async Task ConnectAsync_RedisHangsAtStartup_ReturnsWithinOneOperationTimeout()
    {
        using var hole = BlackHoleEndPoint.Start();

        var stopwatch = Stopwatch.StartNew();
        var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = hole.EndPoint, OperationTimeout = OperationTimeout });
        var connect = stopwatch.Elapsed;
        stopwatch.Restart();
        await tier.DisposeAsync();
        var dispose = stopwatch.Elapsed;
        output.WriteLine($"ConnectAsync {connect.TotalMilliseconds:F0} ms, DisposeAsync {dispose.TotalMilliseconds:F0} ms");

        connect.Should().BeLessThan(OperationTimeout + TimeSpan.FromSeconds(1.5));
        dispose.Should().BeLessThan(TimeSpan.FromSeconds(1), "disposing never waits for a pending connect");
    }

    [Fact]
    public async Task ReadAsync_SentWhileTheFirstConnectIsUnderWay_NotRefusedAsStale()
    {
        // Redis answers the client's first connect after 1.5 s. The tier's clock (its timeouts) stands still, as a
        // timer does that fires late on a loaded machine at start-up: only the deadline Redis checks could refuse the
        // read, and that deadline starts when the command can be sent, not when the caller asked.
        using var slow = LatencyEndPoint.Start(_server.EndPoint, latency: TimeSpan.Zero, connectDelay: TimeSpan.FromSeconds(1.5));
        using var loggers = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var factory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(loggers));
        await using var tier = RedisStampedeTier.Create(
            new RedisStampedeOptions { Configuration = $"{slow.EndPoint},connectTimeout=10000", OperationTimeout = TimeSpan.FromMilliseconds(300), HeartbeatInterval = Timeout.InfiniteTimeSpan },
            null,
            factory,
            new TestSupport.FakeTimeProvider(DateTimeOffset.UtcNow));
        var stopwatch = Stopwatch.StartNew();

        // The read-or-acquire script at once (RequireStamp: no plain read first, which would wait for the connect itself).
        var read = await tier.ReadAsync("k", new DistributedReadOptions { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = TimeSpan.FromSeconds(30), RequireStamp = true }, default);

        output.WriteLine($"first read answered after {stopwatch.ElapsedMilliseconds} ms");
        stopwatch.Elapsed.Should().BeGreaterThan(TimeSpan.FromSeconds(1), "the read waited for the connect");
        read.Outcome.Should().Be(DistributedOutcome.Done);
        read.Lease.Should().NotBeNull("the leader's first read takes the lock");
        loggers.Collector.GetSnapshot().Should().NotContain(r => r.Id.Id == 115, "an ordinary first read is not a replayed one");
        await read.Lease!.ReleaseAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task LockAndBarrier_RequestedWhileRedisDownThenRestarted_NoLockKeyAppearsInRestartedServer(bool applicationMultiplexer)
    {
        // The application's multiplexer keeps the client's default backlog (queue while disconnected, replay on
        // reconnect) with a long timeout, so a replay would land long after the tier gave up on the request.
        await using var application = applicationMultiplexer
            ? await ConnectionMultiplexer.ConnectAsync($"{_server.EndPoint},abortConnect=false,asyncTimeout=60000,syncTimeout=60000")
            : null;
        await using var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions
        {
            Configuration = _server.Configuration,
            ConnectionMultiplexer = application,
            OperationTimeout = TimeSpan.FromMilliseconds(500),
        });
        var locks = new RedisStampedeLock(tier);
        var connection = tier.Connection!;
        await _server.KillAsync();
        await WaitUntilAsync(() => !connection.IsConnected, "the client sees the connection drop");

        var named = await locks.TryAcquireAsync("job", new Locking.StampedeLockOptions { LeaseDuration = TimeSpan.FromSeconds(30) });
        var barrier = await tier.ReadAsync("k", new DistributedReadOptions { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = TimeSpan.FromSeconds(30) }, default);
        var write = await tier.WriteAsync("w", new byte[] { 1 }, new DistributedWriteOptions { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = DateTimeOffset.UtcNow.AddMinutes(1), Notify = true }, default);

        // Control: a plain command queued on the same multiplexer while Redis is down (replayed if the backlog queues).
        var control = application?.GetDatabase().StringSetAsync("control", "replayed");
        await _server.StartAsync();
        await WaitUntilAsync(() => connection.IsConnected, "the client reconnects", TimeSpan.FromSeconds(60));
        await connection.GetDatabase().PingAsync(); // the backlog is first in, first out: whatever was queued has been sent
        var controlOutcome = control is null ? "none" : await control.ContinueWith(t => t.IsCompletedSuccessfully ? t.Result.ToString() : t.Exception!.InnerException!.Message, TaskScheduler.Default);
        output.WriteLine($"control: {controlOutcome}; keys: '{(await _server.CliAsync("keys", "*")).Trim()}'");

        using var scope = new FluentAssertions.Execution.AssertionScope();
        named.Should().BeNull();
        barrier.Lease.Should().BeNull();
        write.Written.Should().BeFalse();
        // The heartbeat's epoch counter is the one key a live tier writes on its own (that is how it sees the restart).
        var keys = string.Join(' ', (await _server.CliAsync("keys", "sg:*")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(k => k != "sg:__epoch"));
        keys.Should().BeEmpty("a lock or write the tier gave up on is refused by Redis (its deadline passed), not replayed");
        if (controlOutcome == "True")
        {
            // (If a reconnect attempt failed before the server was up, the client may abort its backlog instead;
            // then the control proves nothing, and the output says so.)
            (await _server.CliAsync("get", "control")).Trim().Should().Be("replayed", "the control proves this client replays its backlog");
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            stopwatch.Elapsed.Should().BeLessThan(timeout ?? TimeSpan.FromSeconds(20), what);
            await Task.Delay(20);
        }
    }
}
