using StackExchange.Redis;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Tests.Infrastructure;

/// <summary>One redis-server shared by a test class; every test uses its own key prefix.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public ConnectionMultiplexer Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartAsync();
        Connection = await ConnectionMultiplexer.ConnectAsync(Server.Configuration);
    }

    public async Task DisposeAsync()
    {
        Connection.Dispose();
        await Server.DisposeAsync();
    }

    public static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..8] + ":";

    /// <summary>A tier on its own connection (its own subscription), as another process would have.</summary>
    public Task<RedisStampedeTier> NewTierAsync(string prefix, Action<RedisStampedeOptions>? configure = null, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        // Generous per-call timeout: these tests are about coordination, not timeouts, and run on a loaded 2-core machine
        // where a 1 s stall would legitimately turn a Redis call into a miss (RedisOutageTests cover that).
        var options = new RedisStampedeOptions { Configuration = Server.Configuration, KeyPrefix = prefix, OperationTimeout = TimeSpan.FromSeconds(5) };
        configure?.Invoke(options);
        return RedisStampedeTier.ConnectAsync(options, loggerFactory, timeProvider);
    }

    /// <summary>Total calls of each command so far (INFO commandstats).</summary>
    public async Task<Dictionary<string, long>> CommandStatsAsync()
    {
        var text = await Server.CliAsync("info", "commandstats");
        var result = new Dictionary<string, long>();
        foreach (var line in text.Split('\n'))
        {
            // cmdstat_get:calls=3,usec=...
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                var name = line[8..line.IndexOf(':')];
                var calls = line[(line.IndexOf("calls=", StringComparison.Ordinal) + 6)..];
                result[name] = long.Parse(calls[..calls.IndexOf(',')]);
            }
        }

        return result;
    }
}
