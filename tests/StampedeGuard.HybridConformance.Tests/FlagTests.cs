using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// HybridCacheEntryFlags per call and as defaults (Microsoft's ServiceConstructionTests and L2Tests): the local and
/// distributed flags keep a call off that tier; DisableUnderlyingData reads without a factory; a call's flags replace
/// the default flags.
/// </summary>
public sealed class FlagTests
{
    [Theory]
    [Both]
    public async Task GetOrCreateAsync_DisableLocalCache_NeverTouchesL1(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, s => s.AddSingleton<IMemoryCache>(new ThrowingCache()));
        var options = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCache };
        var runs = 0;

        await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options);
        await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options);

        runs.Should().Be(2, "with no tier at all, every call computes");
    }

    [Theory]
    [Both(HybridCacheEntryFlags.DisableLocalCacheRead, false)]
    [Both(HybridCacheEntryFlags.DisableLocalCacheWrite, true)]
    public async Task GetOrCreateAsync_LocalReadOrWriteDisabled_SecondCallReadsL2(Implementation implementation, HybridCacheEntryFlags flags, bool onFirstCall)
    {
        var l2 = new SharedL2();
        using var host = HybridHost.Create(implementation, s => s.AddSingleton<IDistributedCache>(l2));
        var withFlags = new HybridCacheEntryOptions { Flags = flags };
        var value = await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Guid.NewGuid()), onFirstCall ? withFlags : null);
        await l2.StoredAsync(1); // Microsoft's implementation writes L2 in the background
        var gets = l2.Gets;

        var again = await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Guid.NewGuid()), onFirstCall ? null : withFlags);

        again.Should().Be(value);
        l2.Gets.Should().BeGreaterThan(gets, "L1 was not read, or had nothing");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_DisableDistributedCache_NeverTouchesL2(Implementation implementation)
    {
        var l2 = new SharedL2();
        using var host = HybridHost.Create(implementation, s => s.AddSingleton<IDistributedCache>(l2));
        var cache = host.Cache;
        var gets = l2.Gets;
        var options = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableDistributedCache };
        var runs = 0;

        (await cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options)).Should().Be(1);
        await cache.SetAsync("other", 2, options);
        (await cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options)).Should().Be(1, "L1 still works");

        (l2.Gets, l2.Sets).Should().Be((gets, 0));
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_DisableUnderlyingDataOnMiss_ReturnsDefault(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var options = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableUnderlyingData };

        (await host.Cache.GetOrCreateAsync<int>("key", _ => throw new InvalidOperationException("must not run"), options)).Should().Be(0);
        (await host.Cache.GetOrCreateAsync<MutablePoco>("poco", _ => throw new InvalidOperationException("must not run"), options)).Should().BeNull();
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_DisableUnderlyingDataOnHit_ReturnsTheCachedValue(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        await host.Cache.SetAsync("key", 42);
        await host.Cache.SetAsync("poco", new MutablePoco { Value = "v" });
        var options = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableUnderlyingData };

        (await host.Cache.GetOrCreateAsync<int>("key", _ => throw new InvalidOperationException("must not run"), options)).Should().Be(42);
        (await host.Cache.GetOrCreateAsync<MutablePoco>("poco", _ => throw new InvalidOperationException("must not run"), options)).Value.Should().Be("v");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_DefaultFlagsDisableLocalCache_EveryCallComputes(Implementation implementation)
    {
        using var host = HybridHost.Create(
            implementation,
            s => s.AddSingleton<IMemoryCache>(new ThrowingCache()),
            o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCache });
        var runs = 0;

        await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));
        await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(1) });

        runs.Should().Be(2, "options without flags keep the default flags");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_CallFlags_ReplaceTheDefaultFlags(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCache });
        var options = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.None };
        var runs = 0;

        await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options);
        await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), options);

        runs.Should().Be(1, "Flags = None on the call turns L1 back on");
    }
}
