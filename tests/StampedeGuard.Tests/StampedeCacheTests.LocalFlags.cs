using StampedeGuard.Distributed;
using StampedeGuard.TestSupport;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static StampedeCacheEntryOptions L2Only() => new() { Duration = TimeSpan.FromSeconds(10), SkipLocalCacheRead = true, SkipLocalCacheWrite = true };

    [Fact]
    public async Task GetOrCreateAsync_SkipLocalCacheRead_IgnoresTheLocalCopyAndRunsTheFactory()
    {
        using var h = new CacheHarness();
        await h.Cache.SetAsync("k", "local");

        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("factory"), new StampedeCacheEntryOptions { SkipLocalCacheRead = true });

        value.Should().Be("factory");
    }

    [Fact]
    public async Task GetOrCreateAsync_SkipLocalCacheWrite_StoresNothingLocally()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("first"), new StampedeCacheEntryOptions { SkipLocalCacheWrite = true });

        var lookup = await h.Cache.TryGetAsync<string>("k");

        lookup.HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task SetAsync_SkipLocalCacheWrite_WritesL2AndDropsTheOlderLocalCopy()
    {
        using var h = new CacheHarness(l2: CacheHarness.NewL2());
        await h.Cache.SetAsync("k", "old");

        await h.Cache.SetAsync("k", "new", new StampedeCacheEntryOptions { SkipLocalCacheWrite = true });
        var read = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("factory"));

        read.Should().Be("new");
    }

    [Fact]
    public async Task TryGetAsync_SkipLocalCacheRead_ReadsTheDistributedTierOnly()
    {
        using var h = new CacheHarness(l2: CacheHarness.NewL2());
        await h.Cache.SetAsync("k", "local", new StampedeCacheEntryOptions { SkipDistributedCache = true });

        var lookup = await h.Cache.TryGetAsync<string>("k", new StampedeCacheEntryOptions { SkipLocalCacheRead = true });

        lookup.HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task L2OnlyOptions_MemoryCacheThatThrowsOnEveryCall_SetTryGetAndGetOrCreateWork()
    {
        var l1 = new ThrowingMemoryCache();
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = new FakeTimeProvider() }, l1, new DistributedCacheStore(CacheHarness.NewL2()));

        await cache.SetAsync("k", "stored", L2Only());
        var lookup = await cache.TryGetAsync<string>("k", L2Only());
        var read = await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("factory"), L2Only());
        var computed = await cache.GetOrCreateAsync("other", _ => ValueTask.FromResult("factory"), L2Only());

        (lookup.HasValue, lookup.Value, read, computed).Should().Be((true, "stored", "stored", "factory"));
        l1.Calls.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_L2OnlyWithThrowingMemoryCache_ConcurrentCallersCollapseOntoOneRun()
    {
        var l1 = new ThrowingMemoryCache();
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = new FakeTimeProvider() }, l1, new DistributedCacheStore(CacheHarness.NewL2()));
        var factory = new GatedFactory<string>();

        var calls = Enumerable.Range(0, 50).Select(_ => cache.GetOrCreateAsync("k", factory.InvokeAsync, L2Only()).AsTask()).ToList();
        await Poll.UntilAsync(() => factory.Calls == 1 && cache.FlightCount == 1, "the one run started");
        factory.Release("v");
        var results = await Poll.Within(Task.WhenAll(calls), "every caller");

        results.Should().OnlyContain(r => r == "v");
        factory.Calls.Should().Be(1);
        l1.Calls.Should().Be(0);
    }
}
