using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>StampedeGuard as its README sets it up for several instances: <c>AddStampedeGuard().AddRedis(...)</c> (L2, barrier, backplane).</summary>
internal class StampedeGuardPeerCache : PeerCache
{
    private readonly IStampedeCache _cache;

    public StampedeGuardPeerCache(string configuration)
        : base(services => services.AddStampedeGuard().AddRedis(r => r.Configuration = configuration)) =>
        _cache = Resolve<IStampedeCache>();

    /// <summary>Over an engine built without DI (<see cref="StampedeGuardBarePeerCache"/>).</summary>
    protected StampedeGuardPeerCache(IStampedeCache cache)
        : base(_ => { }) =>
        _cache = cache;

    public override Func<string, ValueTask<string>> Prepare(Func<CancellationToken, ValueTask<string>> factory, TimeSpan duration, bool skipLocalRead = false)
    {
        var options = new StampedeCacheEntryOptions { Duration = duration, SkipLocalCacheRead = skipLocalRead };
        return key => _cache.GetOrCreateAsync(key, factory, options);
    }

    public override ValueTask SetAsync(string key, string value, TimeSpan duration) =>
        _cache.SetAsync(key, value, new StampedeCacheEntryOptions { Duration = duration });

    public override async ValueTask<string?> TryGetAsync(string key) => (await _cache.TryGetAsync<string>(key)).Value;
}
