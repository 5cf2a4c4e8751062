using StampedeGuard.Stampede.Strategies;

namespace StampedeGuard.Stampede;

/// <summary>Every strategy the demo knows, in the order they run.</summary>
internal static class StrategyCatalog
{
    public static IReadOnlyList<StrategyDefinition> All(Scenario scenario)
    {
        var all = new List<StrategyDefinition>
        {
            new("no cache", "no-cache", static (o, s) => Ready(new NoCacheStrategy(o, s.Ttl))),
            new("naive memoize", "naive", static (o, s) => Ready(new NaiveMemoizeStrategy(o, s.Ttl))),
            new("double-checked locking", "double-checked", static (o, s) => Ready(new DoubleCheckedLockingStrategy(o, s.Ttl))),
            new("StampedeGuard (defaults)", "stampedeguard", static (o, s) => Ready(new StampedeGuardStrategy(o, s.Ttl, new() { Duration = s.Ttl }))),
            XFetch(1.0),
            XFetch(0.5),
            XFetch(0.3),
            new("HybridCache (duration)", "hybrid", static (o, s) => Ready(new HybridCacheStrategy(o, s.Ttl))),
            new("FusionCache (duration)", "fusion-duration", static (o, s) => Ready(new FusionCacheStrategy(o, s.Ttl, FusionCacheStrategy.DurationOnly(s.Ttl)))),
            Fusion(0.8f),
            Fusion(0.9f),
        };

        if (scenario.Redis is not null)
        {
            all.AddRange(RedisStrategies.All());
        }

        return all;
    }

    /// <summary>The strategies whose slug starts with one of the comma-separated <paramref name="filter"/> entries (all when empty).</summary>
    public static IReadOnlyList<StrategyDefinition> Select(Scenario scenario, string? filter)
    {
        var all = All(scenario);
        if (string.IsNullOrWhiteSpace(filter))
        {
            return all;
        }

        var wanted = filter.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return [.. all.Where(d => wanted.Any(w => d.Slug.StartsWith(w, StringComparison.OrdinalIgnoreCase)))];
    }

    private static StrategyDefinition XFetch(double beta) =>
        new($"StampedeGuard XFetch beta={beta:0.0}", $"xfetch-{beta:0.0}", (o, s) => Ready(new StampedeGuardStrategy(o, s.Ttl, new()
        {
            Duration = s.Ttl,
            EarlyRefresh = StampedeEarlyRefresh.XFetch,
            EarlyRefreshBeta = beta,
        })));

    private static StrategyDefinition Fusion(float threshold) =>
        new($"FusionCache (eager {threshold:0.0}, fail-safe, soft timeout)", $"fusion-eager-{threshold:0.0}", (o, s) => Ready(new FusionCacheStrategy(o, s.Ttl, FusionCacheStrategy.Recommended(s.Ttl, threshold))));

    private static ValueTask<Strategy> Ready(Strategy strategy) => ValueTask.FromResult(strategy);
}
