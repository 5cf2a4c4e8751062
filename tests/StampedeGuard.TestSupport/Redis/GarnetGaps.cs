namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// What Garnet (2.2.12) lacks that a test needs, as the skip reason that test states on the Garnet pass
/// (<see cref="RedisFactAttribute.SkipOnGarnet"/>). Each was checked against a running garnet-server; docs/redis.md
/// lists them with the differences that are tested instead.
/// </summary>
public static class GarnetGaps
{
    /// <summary>The skip reason for a test that needs <paramref name="gap"/>: null unless the suite runs on Garnet.</summary>
    public static string? SkipReason(string? gap) => gap is not null && RedisServer.Flavor == RedisServerFlavor.Garnet ? "Garnet gap: " + gap : null;

    /// <summary>CLIENT PAUSE / UNPAUSE: Garnet answers "ERR unknown subcommand 'PAUSE'".</summary>
    public const string ClientPause = "Garnet has no CLIENT PAUSE (\"ERR unknown subcommand 'PAUSE'\"): a server that holds writes cannot be staged";

    /// <summary>INFO commandstats: Garnet counts the commands clients send, not those a script runs (Redis counts both).</summary>
    public const string ScriptCommandStats = "Garnet's INFO commandstats does not count the commands a script runs (the read script's HMGET), so the per-command counts these tests assert exist on redis-server only";

    /// <summary>Cluster mode: Garnet's cluster is formed with its own CLUSTER commands, not <c>redis-cli --cluster create</c> on redis-server's options.</summary>
    public const string Cluster = "the cluster tests start redis-server's cluster mode (redis-cli --cluster create); Garnet's cluster mode is not tested";
}
