using FluentAssertions;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Locking;
using Xunit;

namespace StampedeGuard.Tests.Integration;

/// <summary>Named (keyed) caches: <c>AddStampedeGuard(name, ...)</c> beside the unnamed cache and each other.</summary>
public sealed class NamedCacheTests
{
    [Fact]
    public void AddStampedeGuard_Named_RegistersKeyedCacheHybridCacheAndLock_AsOneInstance()
    {
        using var provider = new ServiceCollection().AddStampedeGuard("orders").Services.BuildServiceProvider();

        var cache = provider.GetRequiredKeyedService<IStampedeCache>("orders");

        cache.Should().BeSameAs(provider.GetRequiredKeyedService<StampedeCache>("orders"));
        provider.GetRequiredKeyedService<HybridCache>("orders").GetType().Namespace.Should().Be("StampedeGuard.Hybrid");
        provider.GetRequiredKeyedService<IStampedeLock>("orders").Should().BeOfType<StampedeLocalLock>();
        provider.GetService<IStampedeCache>().Should().BeNull("a named registration adds no unnamed cache");
        ((StampedeCache)cache).Options.CacheName.Should().Be("orders");
    }

    [Fact]
    public async Task KeyedHybridCache_Named_IsBackedByTheNamedEngine()
    {
        using var provider = new ServiceCollection().AddStampedeGuard("orders").Services.AddStampedeGuard().Services.BuildServiceProvider();
        var calls = 0;

        var first = await provider.GetRequiredKeyedService<IStampedeCache>("orders").GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)));
        var second = await provider.GetRequiredKeyedService<HybridCache>("orders").GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)));
        var unnamed = await provider.GetRequiredService<HybridCache>().GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)));

        (first, second, unnamed, calls).Should().Be((1, 1, 2, 2), "the keyed HybridCache shares the named engine's L1; the unnamed one is another cache");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AddStampedeGuard_UnnamedAndNamedInEitherOrder_AreSeparateCachesWithTheirOwnOptions(bool unnamedFirst)
    {
        var services = new ServiceCollection();
        if (unnamedFirst)
        {
            services.AddStampedeGuard(o => o.KeyPrefix = "main:");
        }

        services.AddStampedeGuard("orders", o => o.KeyPrefix = "orders-app:");
        services.AddStampedeGuard("users", o => o.MaximumKeyLength = 10);
        if (!unnamedFirst)
        {
            services.AddStampedeGuard(o => o.KeyPrefix = "main:");
        }

        using var provider = services.BuildServiceProvider();
        var unnamed = provider.GetRequiredService<StampedeCache>();
        var orders = provider.GetRequiredKeyedService<StampedeCache>("orders");
        var users = provider.GetRequiredKeyedService<StampedeCache>("users");

        new[] { unnamed, orders, users }.Should().OnlyHaveUniqueItems();
        (unnamed.Options.KeyPrefix, unnamed.Options.CacheName, unnamed.Options.MaximumKeyLength).Should().Be(("main:", (string?)null, 1024));
        (orders.Options.KeyPrefix, orders.Options.CacheName).Should().Be(("orders-app:", "orders"));
        (users.Options.KeyPrefix, users.Options.MaximumKeyLength).Should().Be((string.Empty, 10));
        provider.GetRequiredService<HybridCache>().Should().NotBeSameAs(provider.GetRequiredKeyedService<HybridCache>("orders"));

        await unnamed.SetAsync("k", "main");
        await orders.SetAsync("k", "orders");
        (await users.TryGetAsync<string>("k")).HasValue.Should().BeFalse();
        (await unnamed.TryGetAsync<string>("k")).Value.Should().Be("main");
        (await orders.TryGetAsync<string>("k")).Value.Should().Be("orders");
    }

    [Fact]
    public void AddStampedeGuard_NamedTwice_AddsUpOptionsAndCreatesOneCache()
    {
        var services = new ServiceCollection();
        services.AddStampedeGuard("orders", o => o.KeyPrefix = "o:");
        services.AddStampedeGuard("orders", o => o.MaximumKeyLength = 99);
        services.Configure<StampedeCacheOptions>("orders", o => o.MaximumPayloadBytes = 1000);
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredKeyedService<StampedeCache>("orders").Options;

        (options.KeyPrefix, options.MaximumKeyLength, options.MaximumPayloadBytes).Should().Be(("o:", 99, 1000));
        provider.GetKeyedServices<IStampedeCache>("orders").Should().ContainSingle();
    }

    [Fact]
    public void GetRequiredKeyedService_NamedCacheWithInvalidOptions_ThrowsNamingTheCacheAndTheOption()
    {
        using var provider = new ServiceCollection().AddStampedeGuard("orders", o => o.MaximumKeyLength = 0).Services.BuildServiceProvider();

        var act = () => provider.GetRequiredKeyedService<IStampedeCache>("orders");

        act.Should().Throw<ArgumentException>().Which.Message.Should().Contain("'orders'").And.Contain("MaximumKeyLength");
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("a{b")]
    [InlineData("a}b")]
    public void AddStampedeGuard_InvalidName_ThrowsNamingTheParameter(string name)
    {
        var act = () => new ServiceCollection().AddStampedeGuard(name);

        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("name");
    }

    [Fact]
    public void CacheName_Blank_ThrowsNamingTheOption()
    {
        var act = () => new StampedeCacheOptions { CacheName = " " };

        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(nameof(StampedeCacheOptions.CacheName));
    }

    [Fact]
    public void UseRegisteredMemoryCache_NamedWithoutAKeyedMemoryCache_ThrowsNamingTheCache()
    {
        using var provider = new ServiceCollection().AddStampedeGuard("orders").UseRegisteredMemoryCache().Services.BuildServiceProvider();

        var act = () => provider.GetRequiredKeyedService<IStampedeCache>("orders");

        act.Should().Throw<InvalidOperationException>().Which.Message.Should().Contain("'orders'");
    }

    [Fact]
    public async Task UseRegisteredMemoryCache_Named_KeepsTheL1InTheMemoryCacheRegisteredUnderTheName()
    {
        var shared = new MemoryCache(new MemoryCacheOptions());
        var own = new MemoryCache(new MemoryCacheOptions());
        var services = new ServiceCollection();
        services.AddSingleton<IMemoryCache>(shared);
        services.AddKeyedSingleton<IMemoryCache>("orders", own);
        using var provider = services.AddStampedeGuard("orders").UseRegisteredMemoryCache().Services.BuildServiceProvider();

        await provider.GetRequiredKeyedService<IStampedeCache>("orders").SetAsync("k", 7);

        (own.Count, shared.Count).Should().Be((1, 0));
    }

    [Fact]
    public async Task UseDistributedCache_TwoNamedCachesOverOneDistributedCache_KeepTheirKeysApart()
    {
        var services = new ServiceCollection().AddDistributedMemoryCache();
        services.AddStampedeGuard("orders").UseDistributedCache();
        services.AddStampedeGuard("users", o => o.KeyPrefix = "u/").UseDistributedCache();
        using var provider = services.BuildServiceProvider();
        var orders = provider.GetRequiredKeyedService<IStampedeCache>("orders");
        var users = provider.GetRequiredKeyedService<IStampedeCache>("users");
        var distributed = provider.GetRequiredService<IDistributedCache>();

        await orders.SetAsync("k", "o");
        await users.SetAsync("k", "u");
        await orders.RemoveAsync("k");

        (await distributed.GetAsync("orders:k")).Should().BeNull("removed from orders");
        (await distributed.GetAsync("u/k")).Should().NotBeNull("an empty KeyPrefix defaults to the name; a prefix set is used as given");
        (await users.TryGetAsync<string>("k", new StampedeCacheEntryOptions { SkipLocalCacheRead = true })).Value.Should().Be("u");
    }
}
