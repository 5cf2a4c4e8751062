namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// Which server the Redis tests start: <c>STAMPEDEGUARD_REDIS_SERVER</c> = <c>redis</c> (the default, redis-server) or
/// <c>garnet</c> (Microsoft Garnet's <c>garnet-server</c>, found through <c>STAMPEDEGUARD_GARNET_SERVER</c>, else PATH).
/// </summary>
public enum RedisServerFlavor
{
    /// <summary><c>redis-server</c>.</summary>
    Redis,

    /// <summary><c>garnet-server</c>, started with <c>--lua --lua-transaction-mode</c>.</summary>
    Garnet,
}
