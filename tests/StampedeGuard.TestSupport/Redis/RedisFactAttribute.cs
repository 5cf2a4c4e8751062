using Xunit;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// A fact about a Redis server that may not hold on Garnet: with <see cref="SkipOnGarnet"/> set (a
/// <see cref="GarnetGaps"/> reason), it is skipped, reason stated, when the suite runs on Garnet, never passed silently.
/// </summary>
public sealed class RedisFactAttribute : FactAttribute
{
    private string? _skipOnGarnet;

    /// <summary>Why the test cannot run on Garnet: the gap it needs.</summary>
    public string? SkipOnGarnet
    {
        get => _skipOnGarnet;
        set
        {
            _skipOnGarnet = value;
            if (value is not null && RedisServer.Flavor == RedisServerFlavor.Garnet)
            {
                Skip = "Garnet gap: " + value;
            }
        }
    }
}
