namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>A mutable type: HybridCache hands each caller its own copy.</summary>
public sealed class MutablePoco
{
    public string Value { get; set; } = "";
}
