using System.ComponentModel;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>Sealed and marked immutable: HybridCache hands every caller the same instance.</summary>
[ImmutableObject(true)]
public sealed class ImmutableSealed(string value)
{
    public string Value { get; } = value;
}
