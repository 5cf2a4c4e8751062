using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Benchmarks;

/// <summary>
/// The L2 hit through each way of setting StampedeGuard up, in one process and one run, so a cost of the set-up itself
/// shows as a ratio: the bare tier and engine of <c>--l2hit</c>, the <c>AddStampedeGuard().AddRedis(...)</c> registration
/// of <c>--peers</c>, and the differences between the two toggled one at a time (value type, who wrote the value,
/// heartbeats, early-refresh beta), with HybridCache over RedisCache as the yardstick. Rounds are interleaved, order
/// flipped every round. Commands per hit are counted by the reading node's own client (background heartbeats of the
/// other set-ups in this process would land in Redis's counts); thread-pool work items per hit (the process's, so
/// heartbeats add a little) count the hops a hit makes.
/// </summary>
internal static class L2HitSetups
{
    public static async Task RunAsync(RedisServer server, int rounds, int callsPerRound)
    {
        var bytes = new byte[1024];
        Random.Shared.NextBytes(bytes);
        var text = new string('.', 1024);
        var longTime = TimeSpan.FromMinutes(30);
        var disposables = new List<IAsyncDisposable>();
        var setups = new List<(string Name, Func<Task> Op, Func<long> Sent, List<double> Samples)>();
        var factoryRuns = 0;

        // The bare set-up of --l2hit: tier with heartbeats off, engine without DI, byte[] value written by the reader itself.
        async Task<(RedisStampedeTier Tier, StampedeCache Cache)> Bare(string prefix, bool heartbeat)
        {
            var options = new RedisStampedeOptions { Configuration = server.Configuration, KeyPrefix = prefix };
            if (!heartbeat)
            {
                options.HeartbeatInterval = Timeout.InfiniteTimeSpan;
            }

            var tier = await RedisStampedeTier.ConnectAsync(options);
            var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);
            disposables.Add(tier);
            disposables.Add(new DisposeAction(cache.Dispose));
            return (tier, cache);
        }

        // The --peers set-up: AddStampedeGuard().AddRedis(...), as the README shows it.
        async Task<(RedisStampedeTier Tier, IStampedeCache Cache)> Registered(string prefix)
        {
            var services = new ServiceCollection();
            services.AddStampedeGuard().AddRedis(r => { r.Configuration = server.Configuration; r.KeyPrefix = prefix; });
            var provider = services.BuildServiceProvider();
            disposables.Add(provider);
            var cache = provider.GetRequiredService<IStampedeCache>();
            var tier = provider.GetRequiredService<RedisStampedeTier>();
            await tier.Subscribed;
            return (tier, cache);
        }

        long Sent(RedisStampedeTier tier) => tier.Connection!.GetCounters().Interactive.OperationCount;

        void Add<T>(string name, RedisStampedeTier tier, IStampedeCache cache, T value, StampedeCacheEntryOptions entry)
        {
            Func<CancellationToken, ValueTask<T>> factory = _ => { factoryRuns++; return ValueTask.FromResult(value); };
            setups.Add((name, async () => await cache.GetOrCreateAsync("hit", factory, entry), () => Sent(tier), []));
        }

        var beta0 = new StampedeCacheEntryOptions { Duration = longTime, SkipLocalCacheRead = true, EarlyRefreshBeta = 0 };
        var peersEntry = new StampedeCacheEntryOptions { Duration = longTime, SkipLocalCacheRead = true };
        var write = new StampedeCacheEntryOptions { Duration = longTime };

        // A. Exactly --l2hit.
        var a = await Bare("a:", heartbeat: false);
        await a.Cache.SetAsync("hit", bytes, write);
        Add("A bare (--l2hit): byte[], beta 0, heartbeat off, self-written", a.Tier, a.Cache, bytes, beta0);

        // B. Bare, with the --peers entry options and value type, value written by another node, heartbeat on.
        var bWriter = await Bare("b:", heartbeat: true);
        var b = await Bare("b:", heartbeat: true);
        await bWriter.Cache.SetAsync("hit", text, write);
        Add("B bare: string, default beta, heartbeat on, other-written", b.Tier, b.Cache, text, peersEntry);

        // C. Exactly --peers: registered through DI, string, default beta, written by another node.
        var cWriter = await Registered("c:");
        var c = await Registered("c:");
        await cWriter.Cache.SetAsync("hit", text, write);
        Add("C DI (--peers): string, default beta, heartbeat on, other-written", c.Tier, c.Cache, text, peersEntry);

        // D-F. C with one difference from A at a time.
        var d = await Registered("d:");
        await d.Cache.SetAsync("hit", bytes, write);
        Add("D DI: byte[], beta 0, self-written (A's value and options through DI)", d.Tier, d.Cache, bytes, beta0);
        var eWriter = await Registered("e:");
        var e = await Registered("e:");
        await eWriter.Cache.SetAsync("hit", text, write);
        Add("E DI: as C with beta 0", e.Tier, e.Cache, text, beta0);
        var f = await Registered("f:");
        await f.Cache.SetAsync("hit", text, write);
        Add("F DI: as C, self-written", f.Tier, f.Cache, text, peersEntry);

        // Where A's time goes: the plain HMGET on the same multiplexer alone, with the thread-pool hop the tier's guard
        // adds, and the tier's read (guard: circuit breaker, timeout, hop).
        var database = a.Tier.Connection!.GetDatabase();
        StackExchange.Redis.RedisKey valueKey = a.Tier.Keys.Value("hit");
        setups.Add(("R raw HashGetAsync (A's multiplexer)", async () => await database.HashGetAsync(valueKey, Internal.RedisScripts.PlainReadFields), () => Sent(a.Tier), []));
        setups.Add(("R+hop raw HashGetAsync, then a forced yield", async () =>
        {
            await database.HashGetAsync(valueKey, Internal.RedisScripts.PlainReadFields);
            await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        }, () => Sent(a.Tier), []));
        setups.Add(("T A's tier.ReadAsync alone", async () => await a.Tier.ReadAsync("hit", default, default), () => Sent(a.Tier), []));

        // H. HybridCache over RedisCache as in --peers.
        var hybridServices = new ServiceCollection();
        hybridServices.AddStackExchangeRedisCache(o => { o.Configuration = server.Configuration; o.InstanceName = "h:"; }).AddHybridCache();
        var hybridProvider = hybridServices.BuildServiceProvider();
        disposables.Add(hybridProvider);
        var hybrid = hybridProvider.GetRequiredService<HybridCache>();
        await hybrid.SetAsync("hit", text, new HybridCacheEntryOptions { Expiration = longTime, LocalCacheExpiration = longTime });
        var hybridEntry = new HybridCacheEntryOptions { Expiration = longTime, LocalCacheExpiration = longTime, Flags = HybridCacheEntryFlags.DisableLocalCacheRead };
        Func<CancellationToken, ValueTask<string>> hybridFactory = _ => { factoryRuns++; return ValueTask.FromResult(text); };
        setups.Add(("H HybridCache 10 over RedisCache: string", async () => await hybrid.GetOrCreateAsync("hit", hybridFactory, static (f, ct) => f(ct), hybridEntry), () => 0, []));

        try
        {
            // Round trips per hit, counted by the reading node's client; then warm-up (a second each, tier-1 JIT).
            var trips = new Dictionary<string, double>();
            var hops = new Dictionary<string, double>();
            foreach (var (name, op, sent, _) in setups)
            {
                await op();
                var before = sent();
                var items = ThreadPool.CompletedWorkItemCount;
                for (var i = 0; i < 200; i++)
                {
                    await op();
                }

                hops[name] = (ThreadPool.CompletedWorkItemCount - items) / 200.0;
                trips[name] = (sent() - before) / 200.0;
                for (var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency; Stopwatch.GetTimestamp() < until;)
                {
                    await op();
                }
            }

            for (var round = 0; round < rounds; round++)
            {
                var order = round % 2 == 0 ? setups : [.. Enumerable.Reverse(setups)];
                foreach (var (_, op, _, samples) in order)
                {
                    for (var i = 0; i < callsPerRound; i++)
                    {
                        var start = Stopwatch.GetTimestamp();
                        await op();
                        samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                    }
                }
            }

            if (factoryRuns != 0)
            {
                throw new InvalidOperationException($"A factory ran {factoryRuns} times: not every call was an L2 hit.");
            }

            Console.WriteLine($"## L2 hit by set-up, same process ({rounds} interleaved rounds x {callsPerRound} calls, 1 KiB value, L1 read skipped)");
            Console.WriteLine();
            Console.WriteLine("| Set-up | p50 µs | p90 µs | mean µs | p50 vs A | p50 vs HybridCache | round trips per hit (reader's client) | thread-pool work items per hit |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            var p50A = L2HitComparison.Percentile(setups[0].Samples, 0.5);
            var p50H = L2HitComparison.Percentile(setups[^1].Samples, 0.5);
            foreach (var (name, _, _, samples) in setups)
            {
                var p50 = L2HitComparison.Percentile(samples, 0.5);
                Console.WriteLine($"| {name} | {p50:F0} | {L2HitComparison.Percentile(samples, 0.9):F0} | {samples.Average():F0} | {p50 / p50A:F2}x | {p50 / p50H:F2}x | {(trips.TryGetValue(name, out var perHit) && !name.StartsWith('H') ? perHit.ToString("F2") : "-")} | {hops[name]:F2} |");
            }

            Console.WriteLine();
        }
        finally
        {
            foreach (var disposable in Enumerable.Reverse(disposables))
            {
                await disposable.DisposeAsync();
            }
        }
    }

    private sealed class DisposeAction(Action dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            dispose();
            return default;
        }
    }
}
