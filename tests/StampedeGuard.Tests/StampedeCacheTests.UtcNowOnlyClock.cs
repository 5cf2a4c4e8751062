using StampedeGuard.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests;

/// <summary>
/// A TimeProvider that overrides only GetUtcNow (its timestamp is the real stopwatch's) drives expiry: engine time,
/// the fast-hit deadline and the measured durations follow GetUtcNow.
/// </summary>
public sealed partial class StampedeCacheTests
{
    private static StampedeCache UtcNowOnlyCache(UtcNowOnlyClock clock, StampedeCacheEntryOptions? defaults = null) => new(new StampedeCacheOptions
    {
        TimeProvider = clock,
        DefaultEntryOptions = defaults ?? new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(1), EarlyRefreshBeta = 0 },
    });

    [Fact]
    public async Task GetOrCreateAsync_ClockOverridingOnlyGetUtcNow_EntryExpiresWhenTheClockPassesItsDuration()
    {
        var clock = new UtcNowOnlyClock();
        using var cache = UtcNowOnlyCache(clock);
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(Interlocked.Increment(ref runs));

        var first = await cache.GetOrCreateAsync("k", Factory);
        clock.Advance(TimeSpan.FromSeconds(59));
        var hit = await cache.GetOrCreateAsync("k", Factory);
        clock.Advance(TimeSpan.FromHours(3));
        var after = await cache.GetOrCreateAsync("k", Factory);

        (first, hit, after, runs).Should().Be((1, 1, 2, 2));
    }

    [Fact]
    public async Task TryGetFresh_ClockOverridingOnlyGetUtcNow_FastHitEndsExactlyAtTheDuration()
    {
        var clock = new UtcNowOnlyClock();
        using var cache = UtcNowOnlyCache(clock);
        await cache.SetAsync("k", 1);

        clock.Advance(TimeSpan.FromMinutes(1) - TimeSpan.FromTicks(1));
        var before = cache.TryGetFresh("k", out int _);
        clock.Advance(TimeSpan.FromTicks(1));
        var at = cache.TryGetFresh("k", out int _);

        (before, at).Should().Be((true, false));
    }

    [Fact]
    public async Task GetOrCreateAsync_ClockOverridingOnlyGetUtcNow_StaleWindowFollowsTheClock()
    {
        var clock = new UtcNowOnlyClock();
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(1), StaleWhileRevalidate = TimeSpan.FromMinutes(10), EarlyRefreshBeta = 0 };
        using var cache = UtcNowOnlyCache(clock, options);
        await cache.SetAsync("k", "old");
        var refresh = new GatedFactory<string>();

        clock.Advance(TimeSpan.FromMinutes(5));
        var stale = await cache.GetOrCreateAsync("k", refresh.InvokeAsync);
        var lookup = await cache.TryGetAsync<string>("k");
        clock.Advance(TimeSpan.FromMinutes(10));
        var missing = await cache.TryGetAsync<string>("k");

        (stale, lookup.IsStale, lookup.Age, missing.HasValue).Should().Be(("old", true, TimeSpan.FromMinutes(5), false));
        await Poll.UntilAsync(() => refresh.Calls == 1, "the stale hit started one background refresh");
        refresh.Release("new");
    }

    [Fact]
    public async Task GetOrCreateAsync_ClockOverridingOnlyGetUtcNow_FailSafeWindowFollowsTheClock()
    {
        var clock = new UtcNowOnlyClock();
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(1), StaleIfError = TimeSpan.FromHours(1), FailSafeThrottle = TimeSpan.FromSeconds(30), EarlyRefreshBeta = 0 };
        using var cache = UtcNowOnlyCache(clock, options);
        await cache.SetAsync("k", "good");
        static ValueTask<string> Failing(CancellationToken _) => ValueTask.FromException<string>(new InvalidOperationException("origin down"));

        clock.Advance(TimeSpan.FromMinutes(30));
        var served = await cache.GetOrCreateAsync("k", Failing);
        clock.Advance(TimeSpan.FromHours(2));
        var act = async () => await cache.GetOrCreateAsync("k", Failing);

        served.Should().Be("good", "inside StaleIfError the last good value is served");
        await act.Should().ThrowAsync<InvalidOperationException>("the fail-safe window ended on the clock");
    }
}
