namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// A hit on an immutable type hands back the cached instance without allocating (HybridCache's reason for the
/// immutability rules). The project runs without tiered compilation, so the measure is of optimised code.
/// </summary>
public sealed class AllocationTests
{
    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ImmutableHit_AllocatesNothing(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var cache = host.Cache;
        await cache.GetOrCreateAsync("key", static _ => ValueTask.FromResult(42));
        Hits(cache, 10); // steady state: one-time lazy initialisation is not per-hit cost

        var (sum, synchronous, allocated) = Hits(cache, 3000);

        (sum, synchronous).Should().Be((126_000, 3000));
        allocated.Should().BeLessThan(3000, "an allocation per hit would cost at least 24 bytes each (a one-off of the runtime may show)");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ImmutableHitWithState_AllocatesNothing(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var cache = host.Cache;
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(1) };
        await cache.GetOrCreateAsync("key", 7, static (s, _) => ValueTask.FromResult(s), options);
        for (var i = 0; i < 10; i++)
        {
            await cache.GetOrCreateAsync("key", 8, static (s, _) => ValueTask.FromResult(s), options); // steady state: delegates cached, statics initialised
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var sum = 0;
        for (var i = 0; i < 3000; i++)
        {
            var hit = cache.GetOrCreateAsync("key", 8, static (s, _) => ValueTask.FromResult(s), options);
            sum += hit.IsCompletedSuccessfully ? await hit : -1_000_000;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        sum.Should().Be(21_000);
        allocated.Should().BeLessThan(3000, "an allocation per hit would cost at least 24 bytes each (a one-off of the runtime may show)");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ImmutableHitWithTags_AllocatesNothing(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var cache = host.Cache;
        string[] tags = ["products", "landing"];
        await cache.GetOrCreateAsync("key", 7, static (s, _) => ValueTask.FromResult(s), tags: tags);
        for (var i = 0; i < 10; i++)
        {
            await cache.GetOrCreateAsync("key", 8, static (s, _) => ValueTask.FromResult(s), tags: tags); // steady state
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var sum = 0;
        for (var i = 0; i < 3000; i++)
        {
            var hit = cache.GetOrCreateAsync("key", 8, static (s, _) => ValueTask.FromResult(s), tags: tags);
            sum += hit.IsCompletedSuccessfully ? await hit : -1_000_000;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        sum.Should().Be(21_000);
        allocated.Should().BeLessThan(3000, "tags matter only when the value is computed: a hit copies none");
    }

    private static (int Sum, int Synchronous, long Allocated) Hits(HybridCache cache, int count, HybridCacheEntryOptions? options = null)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var (sum, synchronous) = (0, 0);
        for (var i = 0; i < count; i++)
        {
            var hit = cache.GetOrCreateAsync("key", static _ => ValueTask.FromResult(0), options);
            if (hit.IsCompletedSuccessfully)
            {
                synchronous++;
                sum += hit.Result;
            }
        }

        return (sum, synchronous, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
