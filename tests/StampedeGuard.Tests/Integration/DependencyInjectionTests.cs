using FluentAssertions;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Locking;
using Xunit;

namespace StampedeGuard.Tests.Integration;

public sealed class DependencyInjectionTests
{
    [Fact]
    public void AddStampedeGuard_Registers_CacheHybridCacheAndLock_AsOneInstance()
    {
        using var provider = new ServiceCollection().AddStampedeGuard().Services.BuildServiceProvider();

        var cache = provider.GetRequiredService<IStampedeCache>();
        cache.Should().BeSameAs(provider.GetRequiredService<StampedeCache>());
        provider.GetRequiredService<HybridCache>().GetType().Namespace.Should().Be("StampedeGuard.Hybrid");
        provider.GetRequiredService<IStampedeLock>().Should().BeOfType<StampedeLocalLock>();
    }

    [Fact]
    public async Task UseRegisteredMemoryCache_KeepsTheL1InTheRegisteredMemoryCache()
    {
        var memory = new MemoryCache(new MemoryCacheOptions());
        var services = new ServiceCollection();
        services.AddSingleton<IMemoryCache>(memory);
        using var provider = services.AddStampedeGuard().UseRegisteredMemoryCache().Services.BuildServiceProvider();

        await provider.GetRequiredService<IStampedeCache>().SetAsync("k", 7);

        memory.TryGetValue("k", out var stored).Should().BeTrue();
        stored.Should().NotBeNull().And.NotBe(7, "values are wrapped so other users of a shared IMemoryCache never collide with ours");
    }

    [Fact]
    public async Task AddStampedeGuard_ValuesStayOutOfTheRegisteredMemoryCache_AndHitFromTheEnginesOwnL1()
    {
        var memory = new MemoryCache(new MemoryCacheOptions());
        var services = new ServiceCollection();
        services.AddSingleton<IMemoryCache>(memory);
        using var provider = services.AddStampedeGuard().Services.BuildServiceProvider();
        var calls = 0;

        var first = await provider.GetRequiredService<IStampedeCache>().GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)));
        var second = await provider.GetRequiredService<HybridCache>().GetOrCreateAsync("k", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)));

        (first, second, calls, memory.Count).Should().Be((1, 1, 1, 0), "the engine and the HybridCache adapter share the private L1; the application's cache holds nothing of ours");
        provider.GetRequiredService<StampedeCache>().Local.Count.Should().Be(1, "one slot for the key");
    }

    [Fact]
    public async Task AddStampedeGuard_LocalCacheSizeLimitBoundsTheL1()
    {
        using var provider = new ServiceCollection()
            .AddStampedeGuard(o => o.LocalCacheSizeLimit = 64 * 1024).Services.BuildServiceProvider();
        var cache = provider.GetRequiredService<IStampedeCache>();

        for (var i = 0; i < 2_000; i++)
        {
            await cache.SetAsync($"k{i}", new string('x', 100));
        }

        var local = provider.GetRequiredService<StampedeCache>().Local;
        local.Size.Should().BeLessThanOrEqualTo(64 * 1024, "the option configured in DI is the private L1's byte budget");
        local.Count.Should().BeInRange(1, 1_999, "over the budget entries were evicted, and some are kept");
    }

    [Fact]
    public async Task UseDistributedCache_WritesThroughToTheRegisteredDistributedCache_WithKeyPrefix()
    {
        var services = new ServiceCollection();
        services.AddDistributedMemoryCache();
        using var provider = services.AddStampedeGuard(o => o.KeyPrefix = "app1:").UseDistributedCache().Services.BuildServiceProvider();
        var cache = provider.GetRequiredService<IStampedeCache>();

        await cache.SetAsync("k", "value");

        var distributed = provider.GetRequiredService<IDistributedCache>();
        (await distributed.GetAsync("app1:k")).Should().NotBeNull();
        (await distributed.GetAsync("k")).Should().BeNull();
    }

    [Fact]
    public void AddStampedeGuard_AppliesConfigure()
    {
        using var provider = new ServiceCollection()
            .AddStampedeGuard(o => o.DefaultEntryOptions.Duration = TimeSpan.FromSeconds(3)).Services.BuildServiceProvider();

        provider.GetRequiredService<StampedeCache>().Options.DefaultEntryOptions.Duration.Should().Be(TimeSpan.FromSeconds(3));
    }
}
