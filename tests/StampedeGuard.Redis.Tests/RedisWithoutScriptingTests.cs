using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using StampedeGuard.TestSupport;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// A server that refuses Lua scripts (Garnet started without <c>--lua</c>, a managed Redis with scripting off): on the
/// Redis pass a real redis-server with EVAL and EVALSHA renamed away, on the Garnet pass a real garnet-server started
/// as its docs show, without <c>--lua</c> ("ERR This instance has Lua scripting support disabled"). Found once at
/// connect, reported once, never per call.
/// </summary>
public sealed class RedisWithoutScriptingTests : IAsyncLifetime
{
    private RedisServer _server = null!;

    public async Task InitializeAsync() => _server = await RedisServer.StartWithoutScriptingAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ConnectAsync_ServerWithoutScripting_OneErrorNamingTheFixThenTheCacheRunsLocallyWithoutAWarningPerCall()
    {
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(logs));
        // A generous per-call timeout: this test is about a configuration error, not timeouts. With the default second,
        // a cold first probe on a loaded machine could time out and leave the error for the next heartbeat to find.
        await using var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = _server.Configuration, OperationTimeout = TimeSpan.FromSeconds(5) }, loggers);
        using var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier, loggerFactory: loggers);
        var runs = 0;

        for (var i = 0; i < 20; i++)
        {
            (await cache.GetOrCreateAsync($"k{i % 4}", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)))).Should().BeGreaterThan(0);
        }

        // Found by the probe at connect, or (when that probe did not conclude) by the next heartbeat's.
        await Poll.UntilAsync(() => tier.ConfigurationError is not null, "the tier finds that the server refuses scripts");
        tier.ConfigurationError.Should().Contain("--lua --lua-transaction-mode").And.Contain(_server.Port.ToString(), "the error names the server and the fix");
        runs.Should().Be(4, "the cache runs on its local tier: one run per key");
        var records = logs.Collector.GetSnapshot();
        records.Where(r => r.Id.Id == 119).Should().ContainSingle().Which.Level.Should().Be(LogLevel.Error);
        records.Where(r => r.Level >= LogLevel.Warning && r.Id.Id != 119).Should().BeEmpty(
            "nothing per call (every record with its exception: {0})",
            string.Join(" | ", records.Select(r => $"{r.Level} {r.Id.Id} {r.Message} {r.Exception?.GetType().Name}: {r.Exception?.Message}")));
    }

    [Fact]
    public async Task ConnectAsync_ServerWithoutScriptingAndThrowOnRedisErrors_FailsAtStartNamingTheFix()
    {
        var connect = () => RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = _server.Configuration, ThrowOnRedisErrors = true });

        (await connect.Should().ThrowExactlyAsync<InvalidOperationException>()).Which.Message.Should().Contain("--lua");
    }
}
