using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.Stampede.Strategies;

/// <summary>StampedeGuard's <see cref="StampedeCache.GetOrCreateAsync{TState, T}"/> with the given entry options, optionally over a distributed tier.</summary>
internal sealed class StampedeGuardStrategy : Strategy
{
    private readonly MemoryCache _memory = new(new MemoryCacheOptions());
    private readonly StampedeCache _cache;
    private readonly StampedeCacheEntryOptions _options;
    private readonly IAsyncDisposable? _tier;

    public StampedeGuardStrategy(Origin origin, TimeSpan ttl, StampedeCacheEntryOptions options, Distributed.IStampedeDistributedStore? store = null, Distributed.IStampedeBackplane? backplane = null, IAsyncDisposable? tier = null)
        : base(origin, ttl)
    {
        _options = options;
        _tier = tier;
        _cache = new StampedeCache(new StampedeCacheOptions { DefaultEntryOptions = options }, _memory, store, backplane);
    }

    public override ValueTask<LandingPage> GetAsync(CancellationToken cancellationToken) =>
        _cache.GetOrCreateAsync<Origin, LandingPage>(Scenario.Key, Origin, static (origin, _, ct) => origin.RenderAsync(ct), _options, cancellationToken);

    public override async ValueTask DisposeAsync()
    {
        _cache.Dispose();
        _memory.Dispose();
        if (_tier is not null)
        {
            await _tier.DisposeAsync();
        }
    }
}
