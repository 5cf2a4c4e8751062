using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's L2Tests and UnreliableL2Tests: a miss reads then writes the registered IDistributedCache; a hit
/// stays in L1; RemoveAsync and SetAsync reach L2; a second cache sharing the L2 sees the value; L2 failures are
/// invisible to callers.
/// </summary>
public sealed class L2Tests
{
    [Theory]
    [Both(false)]
    [Both(true)]
    public async Task GetOrCreateAsync_WithL2_ReadsWritesOnceThenHitsL1(Implementation implementation, bool mutable)
    {
        var l2 = new SharedL2();
        using var host = HybridHost.Create(implementation, s => s.AddSingleton<IDistributedCache>(l2));

        var first = await Get(host, mutable, "v1");
        var (gets, sets) = (l2.Gets, l2.Sets);
        var second = await Get(host, mutable, "v2");

        (first, second).Should().Be(("v1", "v1"));
        gets.Should().BeGreaterThanOrEqualTo(1, "a miss looks in L2");
        sets.Should().Be(1, "the value is written to L2 once");
        (l2.Gets, l2.Sets).Should().Be((gets, sets), "an L1 hit does not touch L2");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_SecondNodeSharingL2_GetsTheValueWithoutItsFactory(Implementation implementation)
    {
        using var nodes = new TwoNodes(implementation);
        var value = await nodes.One.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Guid.NewGuid()));
        await nodes.L2.StoredAsync(1); // Microsoft's implementation writes L2 in the background

        (await nodes.Two.Cache.GetOrCreateAsync<Guid>("key", _ => throw new InvalidOperationException("must come from L2"))).Should().Be(value);
    }

    [Theory]
    [Both]
    public async Task RemoveAsync_WithL2_RemovesFromL2(Implementation implementation)
    {
        using var nodes = new TwoNodes(implementation);
        await nodes.One.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(1));

        await nodes.One.Cache.RemoveAsync("key");

        nodes.L2.Removes.Should().BeGreaterThanOrEqualTo(1);
        (await nodes.Two.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(2))).Should().Be(2);
    }

    [Theory]
    [Both]
    public async Task SetAsync_WithL2_WritesL2(Implementation implementation)
    {
        using var nodes = new TwoNodes(implementation);

        await nodes.One.Cache.SetAsync("key", "set");

        nodes.L2.Sets.Should().Be(1);
        (await nodes.Two.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("factory"))).Should().Be("set");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_L2WritesFail_CallerGetsTheValue(Implementation implementation)
    {
        var l2 = new SharedL2 { FailWrites = true };
        using var host = HybridHost.Create(implementation, s => s.AddSingleton<IDistributedCache>(l2));

        var value = await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("v"));

        value.Should().Be("v");
        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("other"))).Should().Be("v", "L1 still holds it");
    }

    [Theory]
    [Both(NeedsRegisteredMemoryCache = true)]
    public async Task GetOrCreateAsync_L2ReadsFail_L1StillServesAndAFreshValueIsComputed(Implementation implementation)
    {
        var l2 = new SharedL2();
        var clock = new TestClock();
        using var l1 = new MemoryCache(new MemoryCacheOptions { Clock = clock });
        using var host = HybridHost.Create(implementation, s => s.AddSingleton<IDistributedCache>(l2).AddSingleton<IMemoryCache>(l1), clock: clock);
        var noL2Write = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableDistributedCacheWrite };
        var x = await host.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult(Guid.NewGuid()));
        l1.Clear();
        (await host.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().Be(x, "read back from L2");

        l2.FailReads = true;
        (await host.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().Be(x, "L1 still has it");
        l1.Clear();
        var fresh = await host.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult(Guid.NewGuid()), noL2Write);

        fresh.Should().NotBe(x, "L1 is empty and L2 cannot be read: the factory runs, nothing throws");
        (await host.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().Be(fresh, "the new value is kept in L1");
    }

    private static async Task<string> Get(HybridHost host, bool mutable, string value) =>
        mutable
            ? (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(new MutablePoco { Value = value }))).Value
            : await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(value));
}
