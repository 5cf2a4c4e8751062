using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// Named caches over one real Redis: each name has its own keys, tag records and backplane channel (the default
/// Redis KeyPrefix <c>sg:{name}:</c>), on one node and across nodes (one service provider per node).
/// </summary>
[Collection("redis")]
public sealed class NamedCachesOverRedisTests(RedisFixture redis) : IAsyncLifetime
{
    // Unique names per test: the default prefix derives from the name, so tests sharing the server never meet.
    private readonly string _orders = "orders" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _users = "users" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<ServiceProvider> _nodes = [];

    private static readonly StampedeCacheEntryOptions Entry = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };
    private static readonly StampedeCacheEntryOptions Tagged = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0, Tags = ["t"] };

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    /// <summary>A node: a service provider with the two named caches (and the unnamed one, on its own prefix), connected and subscribed.</summary>
    private async Task<(IStampedeCache Orders, IStampedeCache Users, ServiceProvider Provider)> NodeAsync(string? unnamedPrefix = null)
    {
        var services = new ServiceCollection();
        services.AddStampedeGuard(_orders).AddRedis(Configure);
        services.AddStampedeGuard(_users).AddRedis(Configure);
        if (unnamedPrefix is not null)
        {
            services.AddStampedeGuard().AddRedis(o => { Configure(o); o.KeyPrefix = unnamedPrefix; });
        }

        var provider = services.BuildServiceProvider();
        _nodes.Add(provider);
        foreach (var name in new[] { _orders, _users })
        {
            var tier = provider.GetRequiredKeyedService<RedisStampedeTier>(name);
            _ = provider.GetRequiredKeyedService<IStampedeCache>(name); // subscribes
            await Poll.UntilAsync(() => tier.Connection?.IsConnected == true, "the tier connects");
            await Poll.Within(tier.Subscribed, "the tier subscribes");
        }

        if (unnamedPrefix is not null)
        {
            var tier = provider.GetRequiredService<RedisStampedeTier>();
            _ = provider.GetRequiredService<IStampedeCache>();
            await Poll.UntilAsync(() => tier.Connection?.IsConnected == true, "the unnamed tier connects");
            await Poll.Within(tier.Subscribed, "the unnamed tier subscribes");
        }

        return (provider.GetRequiredKeyedService<IStampedeCache>(_orders), provider.GetRequiredKeyedService<IStampedeCache>(_users), provider);
    }

    private void Configure(RedisStampedeOptions o)
    {
        o.Configuration = redis.Server.Configuration;
        o.OperationTimeout = TimeSpan.FromSeconds(5);
    }

    /// <summary>Waits until an asynchronous condition holds, failing the test after <see cref="Poll.Timeout"/>.</summary>
    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > Poll.Timeout)
            {
                throw new Xunit.Sdk.XunitException($"Timed out waiting until {what}.");
            }

            await Task.Delay(1);
        }
    }

    private static ValueTask<string> Fails(CancellationToken _) => throw new InvalidOperationException("expected a hit");

    [Fact]
    public async Task AddRedis_TwoNamedCaches_KeepTheirKeysUnderTheirOwnDefaultPrefix()
    {
        var (orders, users, provider) = await NodeAsync();

        await orders.SetAsync("k", "o", Entry);
        var seen = await users.GetOrCreateAsync("k", _ => ValueTask.FromResult("u"), Entry);

        seen.Should().Be("u", "the users cache never reads the orders cache's key");
        (await redis.Server.CliAsync("exists", $"sg:{_orders}:{{k}}:v")).Trim().Should().Be("1");
        (await redis.Server.CliAsync("exists", $"sg:{_users}:{{k}}:v")).Trim().Should().Be("1");
        provider.GetRequiredKeyedService<RedisStampedeTier>(_orders).Should().NotBeSameAs(provider.GetRequiredKeyedService<RedisStampedeTier>(_users));
    }

    [Fact]
    public async Task RemoveAsync_OnOneNamedCache_LeavesTheOtherCachesSameKeyOnEveryNode()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        await a.Orders.SetAsync("k", "o", Entry);
        await a.Users.SetAsync("k", "u", Entry);
        await a.Users.SetAsync("marker", "old", Entry);
        (await b.Orders.GetOrCreateAsync("k", Fails, Entry)).Should().Be("o");
        (await b.Users.GetOrCreateAsync("k", Fails, Entry)).Should().Be("u");
        (await b.Users.GetOrCreateAsync("marker", Fails, Entry)).Should().Be("old");

        await a.Orders.RemoveAsync("k");
        await UntilAsync(async () => !(await b.Orders.TryGetAsync<string>("k")).HasValue, "node B's orders cache drops k");
        // A later message on the users channel: once node B's users cache has it, an earlier one would have arrived too.
        await a.Users.SetAsync("marker", "new", Entry);
        await UntilAsync(async () => (await b.Users.TryGetAsync<string>("marker")).Value == "new", "node B's users cache sees the marker");

        (await b.Users.GetOrCreateAsync("k", Fails, Entry)).Should().Be("u", "node B's users cache kept k in memory");
        (await a.Users.GetOrCreateAsync("k", Fails, Entry)).Should().Be("u");
        (await redis.Server.CliAsync("exists", $"sg:{_users}:{{k}}:v")).Trim().Should().Be("1");
    }

    [Fact]
    public async Task RemoveByTagAsync_OnOneNamedCache_LeavesTheOtherCachesTaggedEntriesOnEveryNode()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        await a.Orders.SetAsync("k", "o", Tagged);
        await a.Users.SetAsync("k", "u", Tagged);
        await a.Users.SetAsync("marker", "old", Entry);
        (await b.Orders.GetOrCreateAsync("k", Fails, Tagged)).Should().Be("o");
        (await b.Users.GetOrCreateAsync("k", Fails, Tagged)).Should().Be("u");
        (await b.Users.GetOrCreateAsync("marker", Fails, Entry)).Should().Be("old");

        await a.Orders.RemoveByTagAsync("t");
        await UntilAsync(async () => !(await b.Orders.TryGetAsync<string>("k")).HasValue, "node B's orders cache drops the tagged k");
        await a.Users.SetAsync("marker", "new", Entry);
        await UntilAsync(async () => (await b.Users.TryGetAsync<string>("marker")).Value == "new", "node B's users cache sees the marker");
        var c = await NodeAsync(); // a node that starts later reads the tag records from Redis

        (await a.Orders.TryGetAsync<string>("k")).HasValue.Should().BeFalse();
        (await a.Users.GetOrCreateAsync("k", Fails, Tagged)).Should().Be("u");
        (await b.Users.GetOrCreateAsync("k", Fails, Tagged)).Should().Be("u");
        (await c.Users.GetOrCreateAsync("k", Fails, Tagged)).Should().Be("u", "the orders cache's tag record is under its own prefix");
        (await c.Orders.TryGetAsync<string>("k")).HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task AddRedis_UnnamedAndNamedCachesOnOneRedis_Coexist()
    {
        var prefix = RedisFixture.NewPrefix();
        var a = await NodeAsync(prefix);
        var b = await NodeAsync(prefix);
        var unnamedA = a.Provider.GetRequiredService<IStampedeCache>();
        var unnamedB = b.Provider.GetRequiredService<IStampedeCache>();
        await unnamedA.SetAsync("k", "main", Entry);
        await a.Orders.SetAsync("k", "o", Entry);
        (await unnamedB.GetOrCreateAsync("k", Fails, Entry)).Should().Be("main");
        (await b.Orders.GetOrCreateAsync("k", Fails, Entry)).Should().Be("o");

        await unnamedA.RemoveAsync("k");
        await UntilAsync(async () => !(await unnamedB.TryGetAsync<string>("k")).HasValue, "node B's unnamed cache drops k");

        (await b.Orders.GetOrCreateAsync("k", Fails, Entry)).Should().Be("o");
        (await redis.Server.CliAsync("exists", $"sg:{_orders}:{{k}}:v")).Trim().Should().Be("1");
        (await a.Provider.GetRequiredKeyedService<HybridCache>(_orders).GetOrCreateAsync("k", _ => ValueTask.FromResult("x"))).Should().Be("o", "the keyed HybridCache is the named engine");
    }

    [Fact]
    public void GetRequiredKeyedService_NamedRedisOptionsInvalid_ThrowsNamingTheCache()
    {
        using var provider = new ServiceCollection().AddStampedeGuard("orders").AddRedis(o => o.OperationTimeout = TimeSpan.Zero).Services.BuildServiceProvider();

        var act = () => provider.GetRequiredKeyedService<IStampedeCache>("orders");

        act.Should().Throw<ArgumentException>().Which.Message.Should().Contain("'orders'").And.Contain("OperationTimeout");
    }
}
