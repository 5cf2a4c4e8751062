using Microsoft.Extensions.Caching.Distributed;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>Two caches of one implementation sharing one L2 and one clock, like two nodes sharing Redis.</summary>
public sealed class TwoNodes : IDisposable
{
    public TwoNodes(Implementation implementation)
    {
        One = HybridHost.Create(implementation, s => s.AddSingleton<IDistributedCache>(L2));
        Two = HybridHost.Create(implementation, s => s.AddSingleton<IDistributedCache>(L2), clock: One.Clock);
    }

    public SharedL2 L2 { get; } = new();

    public HybridHost One { get; }

    public HybridHost Two { get; }

    public void Dispose()
    {
        One.Dispose();
        Two.Dispose();
    }
}
