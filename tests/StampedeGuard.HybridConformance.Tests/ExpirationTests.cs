namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's ExpirationTests: Expiration bounds the value's life in L2, LocalCacheExpiration its life in L1, and a
/// value past its local life is read back from L2 until Expiration. Plus the merge of per-call and default options,
/// and the same expiry on a clock that overrides only <c>GetUtcNow</c> (Microsoft's own tests use one).
/// </summary>
public sealed class ExpirationTests
{
    private static readonly Func<CancellationToken, ValueTask<Guid>> NewGuid = static _ => ValueTask.FromResult(Guid.NewGuid());

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_LocalExpirationShorterThanExpiration_L1ThenL2ThenFactory(Implementation implementation)
    {
        var clock = new TestClock();
        var l2 = new SharedL2(clock);
        using var host = HybridHost.Create(implementation, s => s.AddSingleton<Microsoft.Extensions.Caching.Distributed.IDistributedCache>(l2), clock: clock);
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(2), LocalCacheExpiration = TimeSpan.FromMinutes(1) };
        var first = await host.Cache.GetOrCreateAsync("key", NewGuid, options);
        await l2.StoredAsync(1); // Microsoft's implementation writes L2 in the background
        var getsAfterCreate = l2.Gets;

        clock.Advance(TimeSpan.FromSeconds(45));
        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().Be(first, "L1 still has it");
        l2.Gets.Should().Be(getsAfterCreate, "an L1 hit does not read L2");

        clock.Advance(TimeSpan.FromSeconds(45));
        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().Be(first, "L1 expired, L2 still has it");
        l2.Gets.Should().BeGreaterThan(getsAfterCreate);

        clock.Advance(TimeSpan.FromSeconds(45));
        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().NotBe(first, "past Expiration");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_DefaultExpiration_AppliesWhenTheCallGivesNone(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(30) });
        var first = await host.Cache.GetOrCreateAsync("key", NewGuid);

        host.Clock.Advance(TimeSpan.FromSeconds(29));
        (await host.Cache.GetOrCreateAsync("key", NewGuid)).Should().Be(first);
        host.Clock.Advance(TimeSpan.FromSeconds(2));
        (await host.Cache.GetOrCreateAsync("key", NewGuid)).Should().NotBe(first);
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_CallExpiration_OverridesTheDefault(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(30) });
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(10) };
        var first = await host.Cache.GetOrCreateAsync("key", NewGuid, options);

        host.Clock.Advance(TimeSpan.FromSeconds(11));

        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().NotBe(first);
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_CallExpirationWithoutLocal_IgnoresTheDefaultLocalExpiration(Implementation implementation)
    {
        // HybridCache: a call's Expiration is also its L1 lifetime; the default LocalCacheExpiration does not cap it.
        using var host = HybridHost.Create(implementation, options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions { LocalCacheExpiration = TimeSpan.FromSeconds(5) });
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(60) };
        var first = await host.Cache.GetOrCreateAsync("key", NewGuid, options);

        host.Clock.Advance(TimeSpan.FromSeconds(30));

        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().Be(first, "no L2, so only L1 can answer");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_DefaultLocalExpiration_BoundsL1WhenTheCallGivesNoOptions(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(10), LocalCacheExpiration = TimeSpan.FromSeconds(5) });
        var first = await host.Cache.GetOrCreateAsync("key", NewGuid);

        host.Clock.Advance(TimeSpan.FromSeconds(6));

        (await host.Cache.GetOrCreateAsync("key", NewGuid)).Should().NotBe(first, "no L2, and the L1 copy lived 5 s");
    }

    [Theory]
    [Both]
    public async Task SetAsync_WithExpiration_ExpiresThen(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        await host.Cache.SetAsync("key", "set", new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(10) });

        host.Clock.Advance(TimeSpan.FromSeconds(9));
        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("factory"))).Should().Be("set");
        host.Clock.Advance(TimeSpan.FromSeconds(2));
        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("factory"))).Should().Be("factory");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ClockOverridingOnlyGetUtcNow_ExpirationRespected(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, clock: new UtcNowOnlyClock());
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromHours(1) };
        var first = await host.Cache.GetOrCreateAsync("key", NewGuid, options);

        host.Clock.Advance(TimeSpan.FromMinutes(59));
        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().Be(first);
        host.Clock.Advance(TimeSpan.FromHours(2));
        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().NotBe(first, "the clock passed Expiration");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ClockOverridingOnlyGetUtcNow_DefaultAndLocalExpirationRespected(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, options: o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(10), LocalCacheExpiration = TimeSpan.FromSeconds(5) }, clock: new UtcNowOnlyClock());
        var first = await host.Cache.GetOrCreateAsync("key", NewGuid);

        host.Clock.Advance(TimeSpan.FromSeconds(4));
        (await host.Cache.GetOrCreateAsync("key", NewGuid)).Should().Be(first);
        host.Clock.Advance(TimeSpan.FromSeconds(2));
        (await host.Cache.GetOrCreateAsync("key", NewGuid)).Should().NotBe(first, "no L2, and the L1 copy lived 5 s");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ClockOverridingOnlyGetUtcNow_L1ThenL2ThenFactory(Implementation implementation)
    {
        var clock = new UtcNowOnlyClock();
        var l2 = new SharedL2(clock);
        using var host = HybridHost.Create(implementation, s => s.AddSingleton<Microsoft.Extensions.Caching.Distributed.IDistributedCache>(l2), clock: clock);
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromHours(2), LocalCacheExpiration = TimeSpan.FromHours(1) };
        var first = await host.Cache.GetOrCreateAsync("key", NewGuid, options);
        await l2.StoredAsync(1);
        var getsAfterCreate = l2.Gets;

        clock.Advance(TimeSpan.FromMinutes(45));
        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().Be(first, "L1 still has it");
        l2.Gets.Should().Be(getsAfterCreate, "an L1 hit does not read L2");

        clock.Advance(TimeSpan.FromMinutes(45));
        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().Be(first, "L1 expired, L2 still has it");
        l2.Gets.Should().BeGreaterThan(getsAfterCreate);

        clock.Advance(TimeSpan.FromMinutes(45));
        (await host.Cache.GetOrCreateAsync("key", NewGuid, options)).Should().NotBe(first, "past Expiration");
    }

    [Theory]
    [Both]
    public async Task SetAsync_ClockOverridingOnlyGetUtcNow_ExpiresThen(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, clock: new UtcNowOnlyClock());
        await host.Cache.SetAsync("key", "set", new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(10) });

        host.Clock.Advance(TimeSpan.FromMinutes(9));
        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("factory"))).Should().Be("set");
        host.Clock.Advance(TimeSpan.FromMinutes(2));
        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("factory"))).Should().Be("factory");
    }
}
