using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.Stampede.Strategies;

/// <summary>What most code does: get from <see cref="IMemoryCache"/>, on a miss render and set. Every caller that misses renders.</summary>
internal sealed class NaiveMemoizeStrategy(Origin origin, TimeSpan ttl) : Strategy(origin, ttl)
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions());

    public override async ValueTask<LandingPage> GetAsync(CancellationToken cancellationToken)
    {
        if (_cache.TryGetValue(Scenario.Key, out LandingPage? page) && page is not null)
        {
            return page;
        }

        page = await Origin.RenderAsync(cancellationToken);
        _cache.Set(Scenario.Key, page, Ttl);
        return page;
    }

    public override ValueTask DisposeAsync()
    {
        _cache.Dispose();
        return ValueTask.CompletedTask;
    }
}
