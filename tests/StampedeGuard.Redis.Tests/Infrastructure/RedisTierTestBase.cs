using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace StampedeGuard.Redis.Tests.Infrastructure;

/// <summary>Tests on the shared server: their own key prefix, and every tier they open disposed at the end.</summary>
public abstract class RedisTierTestBase(RedisFixture redis) : IAsyncLifetime
{
    private readonly List<RedisStampedeTier> _tiers = [];

    protected RedisFixture Redis { get; } = redis;

    protected string Prefix { get; } = RedisFixture.NewPrefix();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var tier in _tiers)
        {
            await tier.DisposeAsync();
        }
    }

    /// <summary>The tier's "lease extended" log records (event 106), oldest first.</summary>
    protected static IReadOnlyList<FakeLogRecord> LeaseExtensions(FakeLoggerProvider logs) =>
        [.. logs.Collector.GetSnapshot().Where(r => r.Id.Id == 106)];

    /// <summary>A tier on its own connection (as another process would have), disposed with the test.</summary>
    protected async Task<RedisStampedeTier> TierAsync(Action<RedisStampedeOptions>? configure = null, ILoggerFactory? loggers = null, TimeProvider? time = null)
    {
        var tier = await Redis.NewTierAsync(Prefix, configure, loggers, time);
        _tiers.Add(tier);
        return tier;
    }
}
