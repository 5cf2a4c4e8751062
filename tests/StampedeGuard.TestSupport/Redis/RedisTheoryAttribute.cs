using Xunit;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>The theory form of <see cref="RedisFactAttribute"/>.</summary>
public sealed class RedisTheoryAttribute : TheoryAttribute
{
    private string? _skipOnGarnet;

    /// <summary>Why the test cannot run on Garnet: the gap it needs.</summary>
    public string? SkipOnGarnet
    {
        get => _skipOnGarnet;
        set => Skip = GarnetGaps.SkipReason(_skipOnGarnet = value) ?? Skip;
    }
}
