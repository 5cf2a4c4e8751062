using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StampedeGuard;
using StampedeGuard.AotSmoke;
using StampedeGuard.Locking;
using StampedeGuard.Memoization;
using StampedeGuard.Serialization;

// Usage: StampedeGuard.AotSmoke --redis 127.0.0.1:6379
// Prints one "name: result" line per check (StampedeGuard.Aot.Tests reads them), then "smoke: ok"; exits 1 on a failure.
var redis = args.Length == 2 && args[0] == "--redis" ? args[1] : throw new ArgumentException("usage: --redis host:port");
var warnings = new WarningCounter();
var runs = new Runs();

try
{
    Console.WriteLine($"aot: dynamic-code={RuntimeFeature.IsDynamicCodeSupported}");

    // Two nodes of one fleet: separate caches, connections and local single-flight, one Redis.
    await using var nodeA = Node(redis, warnings);
    await using var nodeB = Node(redis, warnings);
    var a = nodeA.GetRequiredService<IStampedeCache>();
    var b = nodeB.GetRequiredService<IStampedeCache>();
    var tagged = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), Tags = ["weather"] };

    // GetOrCreateAsync of a record: computed on A, written to Redis through the source-generated context, read on B.
    var oslo = await a.GetOrCreateAsync("forecast:oslo", _ => runs.Count(new Forecast("Oslo", 7, DateTimeOffset.UnixEpoch, ["rain"])), tagged);
    var fromB = await b.GetOrCreateAsync("forecast:oslo", _ => runs.Count(new Forecast("Wrong", 0, default, [])), tagged);
    Console.WriteLine($"record: {fromB.City} {fromB.TemperatureC} {string.Join(',', fromB.Tags)} equal={Same(oslo, fromB)} runs={runs.Total}");

    // Tags: RemoveByTagAsync on A; the next read on A recomputes, and B comes to see the new value.
    await a.RemoveByTagAsync("weather");
    var warmer = await a.GetOrCreateAsync("forecast:oslo", _ => runs.Count(new Forecast("Oslo", 9, DateTimeOffset.UnixEpoch, ["sun"])), tagged);
    var seenOnB = await Eventually(async () => (await b.TryGetAsync<Forecast>("forecast:oslo")) is { HasValue: true, Value.TemperatureC: 9 });
    Console.WriteLine($"tags: after-remove={warmer.TemperatureC} other-node={(seenOnB ? "new" : "old")} runs={runs.Total}");

    // The cross-process barrier: 8 callers on each node at once, a slow factory, one run in the whole fleet.
    runs.Reset();
    var barrier = Enumerable.Range(0, 16).Select(i => (i % 2 == 0 ? a : b).GetOrCreateAsync(
        "barrier", async ct => { await Task.Delay(300, ct); return await runs.Count(new Forecast("Bergen", 5, DateTimeOffset.UnixEpoch, [])); }).AsTask());
    var answers = await Task.WhenAll(barrier);
    Console.WriteLine($"barrier: callers={answers.Length} all-bergen={answers.All(f => f.City == "Bergen")} runs={runs.Total}");

    // HybridCache's API on the engine: a record (copied per caller, kept as bytes) from A, read on B through Redis.
    runs.Reset();
    var hybridA = nodeA.GetRequiredService<HybridCache>();
    var hybridB = nodeB.GetRequiredService<HybridCache>();
    var h1 = await hybridA.GetOrCreateAsync("hybrid:tromso", _ => runs.Count(new Forecast("Tromso", -3, DateTimeOffset.UnixEpoch, ["snow"])));
    var h2 = await hybridB.GetOrCreateAsync("hybrid:tromso", _ => runs.Count(new Forecast("Wrong", 0, default, [])));
    Console.WriteLine($"hybrid: {h2.City} {h2.TemperatureC} equal={Same(h1, h2)} copy={!ReferenceEquals(h1, h2)} runs={runs.Total}");

    // The distributed lock: held on A, refused to B, B's once A lets go.
    var lockA = nodeA.GetRequiredService<IStampedeLock>();
    var lockB = nodeB.GetRequiredService<IStampedeLock>();
    string refused, acquired;
    await using (await lockA.AcquireAsync("smoke-lock"))
    {
        refused = await lockB.TryAcquireAsync("smoke-lock", new StampedeLockOptions { WaitTimeout = TimeSpan.Zero }) is null ? "refused" : "granted";
    }

    await using (var lease = await lockB.TryAcquireAsync("smoke-lock", new StampedeLockOptions { WaitTimeout = TimeSpan.FromSeconds(5) }))
    {
        acquired = lease is null ? "refused" : "granted";
    }

    Console.WriteLine($"lock: {lockA.GetType().Name} held-elsewhere={refused} after-release={acquired}");

    // Memoize with the arguments' JSON contracts from the context: equal records are one key.
    runs.Reset();
    var describe = a.Memoize<Forecast, string>("describe", async (f, _) => (await runs.Count(f)).City, SmokeJson.Default.Options);
    var first = await describe(new Forecast("Oslo", 7, DateTimeOffset.UnixEpoch, ["rain"]), default);
    var second = await describe(new Forecast("Oslo", 7, DateTimeOffset.UnixEpoch, ["rain"]), default);
    Console.WriteLine($"memoize: {first} {second} runs={runs.Total}");

    // A clock that overrides only GetUtcNow: found by reflection on its type, so expiry follows it.
    var clock = new UtcNowOnlyClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    using (var local = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }))
    {
        await local.SetAsync("k", "v", new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(1) });
        var before = await local.TryGetAsync<string>("k");
        clock.Advance(TimeSpan.FromMinutes(2));
        var after = await local.TryGetAsync<string>("k");
        Console.WriteLine($"clock: fresh-before={before.HasValue && !before.IsStale} expired-after={!after.HasValue || after.IsStale}");
    }

    // Without a context, System.Text.Json has no reflection here: the default factory serves strings and refuses records.
    var defaults = new JsonStampedeSerializerFactory();
    Console.WriteLine($"default-json: string={defaults.TryCreateSerializer<string>(out _)} record={defaults.TryCreateSerializer<Forecast>(out _)}");

    Console.WriteLine($"log: warnings={warnings.Count}");

    // A type no context lists: served and kept locally, its L2 write logged with the fix; HybridCache's copies need bytes.
    var unlisted = await a.GetOrCreateAsync("unlisted", _ => ValueTask.FromResult(new Unlisted(1)));
    Console.WriteLine($"unlisted: served={unlisted.Id} logged={warnings.Count} names-fix={warnings.Last.Contains("JsonSerializerContext", StringComparison.Ordinal)}");
    var hybridUnlisted = "served";
    try
    {
        await hybridA.GetOrCreateAsync("hybrid:unlisted", _ => ValueTask.FromResult(new Unlisted(2)));
    }
    catch (InvalidOperationException)
    {
        hybridUnlisted = "InvalidOperationException";
    }

    Console.WriteLine($"hybrid-unlisted: {hybridUnlisted}");
    Console.WriteLine("smoke: ok");
    return 0;
}
catch (Exception ex)
{
    Console.Error.WriteLine($"smoke: FAILED {ex}");
    return 1;
}

static ServiceProvider Node(string redis, WarningCounter warnings)
{
    var services = new ServiceCollection();
    services.AddLogging(logging => logging.AddProvider(warnings));
    services.AddStampedeGuard(o => o.SerializerFactory = new JsonStampedeSerializerFactory(SmokeJson.Default.Options))
        .AddRedis(o => o.Configuration = redis);
    return services.BuildServiceProvider();
}

static bool Same(Forecast x, Forecast y) => x with { Tags = [] } == y with { Tags = [] } && x.Tags.SequenceEqual(y.Tags);

static async Task<bool> Eventually(Func<Task<bool>> condition)
{
    for (var i = 0; i < 100; i++)
    {
        if (await condition())
        {
            return true;
        }

        await Task.Delay(50);
    }

    return false;
}

/// <summary>Counts factory runs across both nodes.</summary>
internal sealed class Runs
{
    private int _total;

    public int Total => Volatile.Read(ref _total);

    public ValueTask<Forecast> Count(Forecast value)
    {
        Interlocked.Increment(ref _total);
        return ValueTask.FromResult(value);
    }

    public void Reset() => Volatile.Write(ref _total, 0);
}
