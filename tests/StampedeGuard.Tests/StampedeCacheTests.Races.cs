#pragma warning disable CS0618 // MemoryCacheOptions.Clock (ISystemClock) lets L2 expire on the fake clock.
using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task GetOrCreateAsync_StaleWindowRefreshFailed_LaterStaleHitTriesAgain()
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromSeconds(10);
            o.StaleWhileRevalidate = TimeSpan.FromMinutes(10);
            o.EarlyRefreshBeta = 0;
        });
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        h.Clock.Advance(TimeSpan.FromSeconds(15));
        var factory = new GatedFactory<string>();
        await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 1, "the first refresh started");
        factory.Fail(new InvalidOperationException("transient"));
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the failed refresh ended");

        h.Clock.Advance(TimeSpan.FromMinutes(1));
        var served = await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 2 || h.Cache.FlightCount == 0, "a second refresh started or none did");
        factory.Release("v2");

        served.Should().Be("v1");
        factory.Calls.Should().Be(2, "one failed refresh must not leave the value unrefreshed for the remaining 9 minutes of the stale window");
    }

    [Fact]
    public async Task SetAsync_WhileEarlierStartedRefreshRuns_SetValueSurvivesTheRefresh()
    {
        using var h = StaleWindowHarness();
        var factory = await StartStaleWindowRefreshAsync(h);

        await h.Cache.SetAsync("k", "set explicitly");
        factory.Release("computed from data read before the set");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the refresh finished");

        (await h.Cache.TryGetAsync<string>("k")).Value.Should().Be("set explicitly");
    }

    [Fact]
    public async Task RemoveByTagAsync_SharedL2AfterOneDay_EntryWithLongerLifetimeStaysInvalidated()
    {
        var clock = new TestSupport.FakeTimeProvider();
        var l2 = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions { Clock = new FakeSystemClock(clock) }));
        var week = new StampedeCacheEntryOptions { Duration = TimeSpan.FromDays(7), Tags = ["catalog"], EarlyRefreshBeta = 0 };
        using var writer = new CacheHarness(clock: clock, l2: l2);
        await writer.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("old price"), week);
        clock.Advance(TimeSpan.FromHours(1));
        await writer.Cache.RemoveByTagAsync("catalog");

        clock.Advance(TimeSpan.FromDays(2));
        using var reader = new CacheHarness(clock: clock, l2: l2);
        var value = await reader.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("new price"), week);

        value.Should().Be("new price", "an entry removed by tag must not come back while it still lives in L2");
    }

    [Fact]
    public async Task GetOrCreateAsync_RandomMixOfOperationsOnFewKeys_NeverTwoFactoryRunsOfOneKeyAtOnceBetweenInvalidations()
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromMilliseconds(50);
            o.StaleWhileRevalidate = TimeSpan.FromMilliseconds(50);
            o.LockTimeout = Timeout.InfiniteTimeSpan; // a LockTimeout takeover is a second run by design
        });
        string[] keys = ["a", "b", "c"];

        // An invalidation supersedes the run in progress (later callers start a new one, by design): two runs of a
        // key may overlap only across an invalidation. The key's counter goes up before and after each invalidation
        // (odd: one is under way); each call passes the value it read to its factory. A run whose caller read an even
        // value still current when the factory starts, overlapping a run whose caller read the same value, had no
        // invalidation between them: that is a real overlap.
        var epochs = new ConcurrentDictionary<string, int>();
        var active = new Dictionary<string, List<int>>();
        var overlaps = 0;
        var runs = 0;
        async ValueTask<int> Factory((string Key, int Epoch) state, StampedeFactoryContext<int> _, CancellationToken ct)
        {
            Interlocked.Increment(ref runs);
            var (key, epoch) = state;
            lock (active)
            {
                var list = active.TryGetValue(key, out var l) ? l : active[key] = [];
                if (epoch % 2 == 0 && epochs[key] == epoch && list.Contains(epoch))
                {
                    overlaps++;
                }

                list.Add(epoch);
            }

            await Task.Yield();
            lock (active)
            {
                active[key].Remove(epoch);
            }

            return key.Length;
        }

        async Task InvalidateAsync(string key, Func<ValueTask> invalidation)
        {
            epochs.AddOrUpdate(key, 1, (_, n) => n + 1);
            await invalidation();
            epochs.AddOrUpdate(key, 1, (_, n) => n + 1);
        }

        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var i = 0; i < 1500; i++)
            {
                var key = keys[random.Next(keys.Length)];
                switch (random.Next(10))
                {
                    case 0: await InvalidateAsync(key, () => h.Cache.RemoveAsync(key)); break;
                    case 1: await InvalidateAsync(key, () => h.Cache.ExpireAsync(key)); break;
                    case 2: await InvalidateAsync(key, () => h.Cache.SetAsync(key, 1)); break;
                    default: (await h.Cache.GetOrCreateAsync<(string, int), int>(key, (key, epochs.GetOrAdd(key, 0)), Factory)).Should().BeInRange(1, 1); break;
                }
            }
        })).ToList();
        var ticker = Task.Run(async () =>
        {
            while (!workers.All(t => t.IsCompleted))
            {
                h.Clock.Advance(TimeSpan.FromMilliseconds(7));
                await Task.Yield();
            }
        });

        await Poll.Within(Task.WhenAll(workers.Append(ticker)), "the workers");
        runs.Should().BeGreaterThan(10, "the mix must actually exercise the factory");
        overlaps.Should().Be(0, "runs {0}, flights left {1}, lock timeouts {2}", runs, h.Cache.FlightCount, h.Metrics.Counter("stampedeguard.lock_timeouts"));
    }

    [Fact]
    public async Task GetOrCreateAsync_EarlyRefreshFailedThenStaleWindow_StaleHitStartsARefresh()
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromSeconds(10);
            o.StaleWhileRevalidate = TimeSpan.FromMinutes(1);
        });
        await FillWithMeasuredFactoryAsync(h, "v1");
        var factory = new GatedFactory<string>();
        h.Clock.Advance(TimeSpan.FromSeconds(10) - FactoryTime);
        await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 1, "the early refresh started");
        factory.Fail(new InvalidOperationException("transient"));
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the early refresh ended");

        h.Clock.Advance(TimeSpan.FromSeconds(5));
        var served = await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);
        await Poll.UntilAsync(() => factory.Calls == 2 || h.Cache.FlightCount == 0, "a stale-window refresh started or none did");
        factory.Release("v2");

        served.Should().Be("v1");
        factory.Calls.Should().Be(2, "the stale window exists to refresh in the background; one failed early refresh must not disable it");
    }
}
