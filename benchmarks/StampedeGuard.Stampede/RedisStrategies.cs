using StampedeGuard.Redis;
using StampedeGuard.Stampede.Strategies;

namespace StampedeGuard.Stampede;

/// <summary>
/// StampedeGuard coordinated through Redis: the Redis tier as L2 store, cross-process barrier and backplane. Each run
/// gets its own key prefix (the run's start instant, shared by every process of the run), so runs never see each other.
/// "barrier off" skips the distributed lock: single-flight stays per process.
/// </summary>
internal static class RedisStrategies
{
    public static IEnumerable<StrategyDefinition> All() =>
    [
        new("StampedeGuard + Redis", "redis", static (o, s) => CreateAsync(o, s, skipLock: false)),
        new("StampedeGuard + Redis, barrier off", "redis-no-barrier", static (o, s) => CreateAsync(o, s, skipLock: true)),
    ];

    private static async ValueTask<Strategy> CreateAsync(Origin origin, Scenario scenario, bool skipLock)
    {
        var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions
        {
            Configuration = scenario.Redis,
            KeyPrefix = $"stampede:{origin.RunStart}:{(skipLock ? "nb" : "b")}:",
        });
        var options = new StampedeCacheEntryOptions { Duration = scenario.Ttl, SkipDistributedLock = skipLock };
        return new StampedeGuardStrategy(origin, scenario.Ttl, options, tier, tier, tier);
    }
}
