using Xunit;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// A fact about a Redis server that may not hold on Garnet: with <see cref="SkipOnGarnet"/> set (a
/// <see cref="GarnetGaps"/> reason), it is skipped, reason stated, when the suite runs on Garnet, never passed silently.
/// With <see cref="GarnetOnly"/> set, it is a fact about Garnet itself, skipped on the Redis passes.
/// </summary>
public sealed class RedisFactAttribute : FactAttribute
{
    private string? _skipOnGarnet;
    private string? _garnetOnly;

    /// <summary>What the test shows about Garnet (it starts a Garnet of its own, configured otherwise).</summary>
    public string? GarnetOnly
    {
        get => _garnetOnly;
        set
        {
            _garnetOnly = value;
            if (value is not null && RedisServer.Flavor != RedisServerFlavor.Garnet)
            {
                Skip = "runs on the Garnet pass (STAMPEDEGUARD_REDIS_SERVER=garnet): " + value;
            }
        }
    }

    /// <summary>Why the test cannot run on Garnet: the gap it needs.</summary>
    public string? SkipOnGarnet
    {
        get => _skipOnGarnet;
        set => Skip = GarnetGaps.SkipReason(_skipOnGarnet = value) ?? Skip;
    }
}
