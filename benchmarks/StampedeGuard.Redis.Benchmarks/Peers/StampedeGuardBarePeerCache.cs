namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>
/// StampedeGuard without dependency injection: the tier and the engine built by hand as <c>--l2hit</c> builds them
/// (heartbeats at their default, so only the registration differs from <see cref="StampedeGuardPeerCache"/>).
/// </summary>
internal sealed class StampedeGuardBarePeerCache : StampedeGuardPeerCache
{
    private readonly RedisStampedeTier _tier;
    private readonly StampedeCache _engine;

    private StampedeGuardBarePeerCache(RedisStampedeTier tier, StampedeCache engine)
        : base(engine) =>
        (_tier, _engine) = (tier, engine);

    public static StampedeGuardBarePeerCache Create(string configuration)
    {
        var tier = RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = configuration }).GetAwaiter().GetResult();
        return new StampedeGuardBarePeerCache(tier, new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier));
    }

    public override async ValueTask DisposeAsync()
    {
        _engine.Dispose();
        await _tier.DisposeAsync();
        await base.DisposeAsync();
    }
}
