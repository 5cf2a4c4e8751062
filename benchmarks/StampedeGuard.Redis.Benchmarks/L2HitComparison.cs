using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Redis;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Benchmarks;

/// <summary>
/// The L2 hit, same run, against the baseline users would otherwise write: Microsoft HybridCache over the
/// StackExchange.Redis IDistributedCache (RedisCache). Both read a 1 KiB value that is in Redis and skip their local
/// tier (StampedeGuard: SkipLocalCacheRead; HybridCache: DisableLocalCacheRead), one caller, sequential; the libraries
/// alternate round by round (order flipped every round) so drift on a noisy machine hits both alike. Redis's own
/// command counts give the commands executed per hit (scripts counted with the commands they run inside).
/// </summary>
internal static class L2HitComparison
{
    public static async Task RunAsync(RedisServer server, int rounds, int callsPerRound)
    {
        var payload = new byte[1024];
        Random.Shared.NextBytes(payload);

        await using var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = server.Configuration, KeyPrefix = "l2:", HeartbeatInterval = Timeout.InfiniteTimeSpan });
        using var stampede = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);
        var stampedeEntry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(30), SkipLocalCacheRead = true, EarlyRefreshBeta = 0 };
        await stampede.SetAsync("hit", payload, new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(30) });

        var services = new ServiceCollection();
        services.AddStackExchangeRedisCache(o => { o.Configuration = server.Configuration; o.InstanceName = "hc:"; });
        services.AddHybridCache();
        await using var provider = services.BuildServiceProvider();
        var hybrid = provider.GetRequiredService<HybridCache>();
        var hybridEntry = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(30), Flags = HybridCacheEntryFlags.DisableLocalCacheRead };
        await hybrid.SetAsync("hit", payload, new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(30) });

        var factoryRuns = 0;
        Func<Task> stampedeHit = async () => await stampede.GetOrCreateAsync("hit", _ => { factoryRuns++; return ValueTask.FromResult(payload); }, stampedeEntry);
        Func<Task> hybridHit = async () => await hybrid.GetOrCreateAsync("hit", _ => { factoryRuns++; return ValueTask.FromResult(payload); }, hybridEntry);
        Func<Task> tierRead = async () => await tier.ReadAsync("hit", default, default);

        // Commands per hit, counted by Redis (every command, also those a script runs).
        var commands = new List<string>();
        foreach (var (name, op) in new[] { ("StampedeGuard", stampedeHit), ("HybridCache", hybridHit) })
        {
            await op();
            var before = await CommandStats.ReadAsync(server);
            const int n = 200;
            for (var i = 0; i < n; i++)
            {
                await op();
            }

            var delta = CommandStats.Delta(before, await CommandStats.ReadAsync(server), "info", "incr", "publish", "ping", "echo"); // background traffic (heartbeats are off on this tier) is not part of a hit
            commands.Add($"{name}: {delta.Values.Sum() / (double)n:F2} ({string.Join(", ", delta.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} x{kv.Value / (double)n:F2}"))})");
        }

        // Warm-up, then interleaved rounds.
        var ops = new (string Name, Func<Task> Op, List<double> Samples)[]
        {
            ("StampedeGuard GetOrCreateAsync, L2 hit (L1 read skipped)", stampedeHit, []),
            ("HybridCache 10 GetOrCreateAsync over RedisCache, L2 hit (L1 read skipped)", hybridHit, []),
            ("RedisStampedeTier.ReadAsync alone (the tier's part of the StampedeGuard hit)", tierRead, []),
        };
        foreach (var (_, op, _) in ops)
        {
            for (var i = 0; i < 500; i++)
            {
                await op();
            }
        }

        for (var round = 0; round < rounds; round++)
        {
            var order = round % 2 == 0 ? ops : [.. ops.Reverse()];
            foreach (var (_, op, samples) in order)
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

        Console.WriteLine($"## L2 hit, same run: StampedeGuard vs HybridCache over RedisCache (1 KiB value, one caller, {rounds} interleaved rounds x {callsPerRound} calls)");
        Console.WriteLine();
        Console.WriteLine("| Call | p50 µs | p90 µs | p99 µs | mean µs | p50 vs HybridCache |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        var hybridP50 = Percentile(ops[1].Samples, 0.5);
        foreach (var (name, _, samples) in ops)
        {
            Console.WriteLine($"| {name} | {Percentile(samples, 0.5):F0} | {Percentile(samples, 0.9):F0} | {Percentile(samples, 0.99):F0} | {samples.Average():F0} | {Percentile(samples, 0.5) / hybridP50:F2}x |");
        }

        Console.WriteLine();
        Console.WriteLine("Redis commands executed per L2 hit (INFO commandstats, scripts and the commands inside them): " + string.Join("; ", commands) + ".");
        Console.WriteLine();
    }

    public static double Percentile(List<double> samples, double q)
    {
        var sorted = samples.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
    }
}
