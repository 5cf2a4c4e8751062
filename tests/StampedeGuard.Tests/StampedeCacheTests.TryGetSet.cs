using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task TryGetAsync_MissingKey_HasNoValueAndRunsNothing()
    {
        using var h = new CacheHarness();

        var lookup = await h.Cache.TryGetAsync<string>("k");

        (lookup.HasValue, lookup.Value).Should().Be((false, null));
        h.Cache.FlightCount.Should().Be(0);
    }

    [Fact]
    public async Task TryGetAsync_FreshValue_ReturnsItNotStaleWithAge()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v"));
        h.Clock.Advance(TimeSpan.FromSeconds(4));

        var lookup = await h.Cache.TryGetAsync<string>("k");

        (lookup.HasValue, lookup.Value, lookup.IsStale, lookup.Age).Should().Be((true, "v", false, TimeSpan.FromSeconds(4)));
    }

    [Fact]
    public async Task TryGetAsync_InsideStaleWindow_ReturnsValueFlaggedStale()
    {
        using var h = StaleWindowHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v"));
        h.Clock.Advance(TimeSpan.FromSeconds(12));

        var lookup = await h.Cache.TryGetAsync<string>("k");

        (lookup.HasValue, lookup.IsStale).Should().Be((true, true));
    }

    [Fact]
    public async Task TryGetAsync_PastEveryWindow_HasNoValue()
    {
        using var h = StaleWindowHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v"));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        (await h.Cache.TryGetAsync<string>("k")).HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task TryGetAsync_NegativelyCachedKey_HasNoValue()
    {
        using var h = new CacheHarness(o => o.NegativeCacheDuration = TimeSpan.FromSeconds(5));
        var failing = async () => await h.Cache.GetOrCreateAsync<string>("k", _ => throw new InvalidOperationException());
        await failing.Should().ThrowAsync<InvalidOperationException>();

        (await h.Cache.TryGetAsync<string>("k")).HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task SetAsync_ThenGetOrCreate_ReturnsSetValueWithoutFactory()
    {
        using var h = new CacheHarness();
        var runs = 0;

        await h.Cache.SetAsync("k", 5);
        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(++runs));

        (value, runs).Should().Be((5, 0));
    }

    [Fact]
    public async Task SetAsync_ExistingKey_ReplacesValue()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        await h.Cache.SetAsync("k", 2);

        (await h.Cache.TryGetAsync<int>("k")).Value.Should().Be(2);
    }

    [Fact]
    public async Task SetAsync_WithDuration_ExpiresOnFakeClock()
    {
        using var h = new CacheHarness(o => o.EarlyRefreshBeta = 0);
        await h.Cache.SetAsync("k", 1, new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(2), EarlyRefreshBeta = 0 });

        h.Clock.Advance(TimeSpan.FromSeconds(2));
        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2));

        value.Should().Be(2);
    }

    [Fact]
    public async Task TryGetAsync_InsideFailSafeWindow_ReturnsValueFlaggedStale()
    {
        using var h = FailSafeHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v"));
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        var lookup = await h.Cache.TryGetAsync<string>("k");

        (lookup.HasValue, lookup.Value, lookup.IsStale).Should().Be((true, "v", true));
    }
}
