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
    public async Task AddStampedeGuard_UsesTheRegisteredMemoryCache_AsL1()
    {
        var memory = new MemoryCache(new MemoryCacheOptions());
        var services = new ServiceCollection();
        services.AddSingleton<IMemoryCache>(memory);
        using var provider = services.AddStampedeGuard().Services.BuildServiceProvider();

        await provider.GetRequiredService<IStampedeCache>().SetAsync("k", 7);

        memory.TryGetValue("k", out var stored).Should().BeTrue();
        stored.Should().NotBeNull().And.NotBe(7, "values are wrapped so other users of a shared IMemoryCache never collide with ours");
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
