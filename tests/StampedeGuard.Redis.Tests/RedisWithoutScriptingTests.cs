using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
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
        await using var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = _server.Configuration }, loggers);
        using var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier, loggerFactory: loggers);
        var runs = 0;

        for (var i = 0; i < 20; i++)
        {
            (await cache.GetOrCreateAsync($"k{i % 4}", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)))).Should().BeGreaterThan(0);
        }

        tier.ConfigurationError.Should().Contain("--lua --lua-transaction-mode").And.Contain(_server.Port.ToString(), "the error names the server and the fix");
        runs.Should().Be(4, "the cache runs on its local tier: one run per key");
        var records = logs.Collector.GetSnapshot();
        records.Where(r => r.Id.Id == 119).Should().ContainSingle().Which.Level.Should().Be(LogLevel.Error);
        records.Where(r => r.Level >= LogLevel.Warning && r.Id.Id != 119).Should().BeEmpty("nothing per call");
    }

    [Fact]
    public async Task ConnectAsync_ServerWithoutScriptingAndThrowOnRedisErrors_FailsAtStartNamingTheFix()
    {
        var connect = () => RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = _server.Configuration, ThrowOnRedisErrors = true });

        (await connect.Should().ThrowExactlyAsync<InvalidOperationException>()).Which.Message.Should().Contain("--lua");
    }
}
