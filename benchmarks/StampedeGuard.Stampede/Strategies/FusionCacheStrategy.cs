using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;

namespace StampedeGuard.Stampede.Strategies;

/// <summary>
/// FusionCache (memory only) as its docs set it up: <c>AddFusionCache()</c> with the given default entry options and
/// <c>GetOrSetAsync</c>. FusionCache has no <c>TState</c> overload, so the factory delegate is created once here.
/// </summary>
internal sealed class FusionCacheStrategy : Strategy
{
    private readonly ServiceProvider _services;
    private readonly IFusionCache _cache;
    private readonly Func<FusionCacheFactoryExecutionContext<LandingPage>, CancellationToken, Task<LandingPage>> _factory;

    public FusionCacheStrategy(Origin origin, TimeSpan ttl, FusionCacheEntryOptions options)
        : base(origin, ttl)
    {
        _services = new ServiceCollection().AddFusionCache().WithDefaultEntryOptions(options).Services.BuildServiceProvider();
        _cache = _services.GetRequiredService<IFusionCache>();
        _factory = (_, ct) => origin.RenderAsync(ct).AsTask();
    }

    /// <summary>Only the duration: what most code sets.</summary>
    public static FusionCacheEntryOptions DurationOnly(TimeSpan ttl) => new() { Duration = ttl };

    /// <summary>
    /// The combination FusionCache's docs recommend for a hot entry: eager refresh at <paramref name="threshold"/> of the
    /// duration, fail-safe, and a factory soft timeout, with the values from its docs' example (fail-safe max 2 h,
    /// throttle 30 s, soft timeout 100 ms, hard timeout 1.5 s).
    /// </summary>
    public static FusionCacheEntryOptions Recommended(TimeSpan ttl, float threshold) => new()
    {
        Duration = ttl,
        EagerRefreshThreshold = threshold,
        IsFailSafeEnabled = true,
        FailSafeMaxDuration = TimeSpan.FromHours(2),
        FailSafeThrottleDuration = TimeSpan.FromSeconds(30),
        FactorySoftTimeout = TimeSpan.FromMilliseconds(100),
        FactoryHardTimeout = TimeSpan.FromMilliseconds(1500),
    };

    public override ValueTask<LandingPage> GetAsync(CancellationToken cancellationToken) =>
        _cache.GetOrSetAsync<LandingPage>(Scenario.Key, _factory, token: cancellationToken);

    public override ValueTask DisposeAsync() => _services.DisposeAsync();
}
