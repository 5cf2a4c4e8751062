using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Tests.Hybrid;

/// <summary>
/// The adapter's copies: a mutable value is kept as bytes and every caller gets its own copy, even when the payload
/// is over MaximumPayloadBytes (Microsoft's HybridCache then shares one instance: a deliberate difference). The
/// allocation-free hit of immutable types is a contract test (HybridConformance.Tests, AllocationTests).
/// </summary>
public sealed class DefensiveCopyTests : IDisposable
{
    private readonly ServiceProvider _provider;

    public DefensiveCopyTests()
    {
        var services = new ServiceCollection();
        services.AddHybridCache(o => o.MaximumPayloadBytes = 8);
        services.AddStampedeGuard();
        _provider = services.BuildServiceProvider();
    }

    private HybridCache Cache => _provider.GetRequiredService<HybridCache>();

    public void Dispose() => _provider.Dispose();

    [Fact]
    public async Task GetOrCreateAsync_MutableOverMaximumPayloadBytes_StillCopiedPerCaller()
    {
        var first = await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(new List<string> { "a long enough value" }));
        first.Add("mutated");

        var second = await Cache.GetOrCreateAsync<List<string>>("k", _ => throw new InvalidOperationException("cached"));

        second.Should().Equal("a long enough value");
    }
}
