using System.Diagnostics;
using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport.Redis;
using Xunit.Abstractions;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// What a batch of 100 keys (90 in Redis, 10 missing) sends: counted by Redis (INFO commandstats) and timed through a
/// link that delays every reply (<see cref="LatencyEndPoint"/>), which bounds the round trips waited for one after
/// the other. Alone: the bound is in real time, and the command counts must be this test's own.
/// </summary>
[Collection("redis-alone")]
public sealed class BatchRoundTripTests(RedisFixture redis, ITestOutputHelper output) : RedisTierTestBase(redis)
{
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(400);

    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task GetOrCreateManyAsync_HundredKeysNinetyInRedis_ThreeRoundTripsAndOneFactoryCall()
    {
        static void NoHeartbeat(RedisStampedeOptions o) => o.HeartbeatInterval = Timeout.InfiniteTimeSpan;
        using var link = LatencyEndPoint.Start(Redis.Server.EndPoint, Latency);
        var writerTier = await TierAsync(NoHeartbeat);
        using var writer = new StampedeCache(new StampedeCacheOptions(), distributedStore: writerTier, backplane: writerTier);
        var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };
        // Two batches over two key sets, the faster judged: a round trip is structural, a stall of the loaded machine
        // (a GC, a thread-pool injection) is not, and one such stall is as long as the link's round trip.
        var keySets = new[] { "a", "b" }.Select(set => Enumerable.Range(0, 100).Select(i => set + i).ToArray()).ToArray();
        var warmUp = Enumerable.Range(0, 32).Select(i => "warm-up" + i).ToArray();
        foreach (var key in keySets.SelectMany(set => set.Take(90)).Concat(warmUp))
        {
            await writer.GetOrCreateAsync(key, _ => ValueTask.FromResult("stored:" + key), entry);
        }

        // The batch's node starts after the writes: the values are in Redis, not in its L1 (no message reached it).
        var batchTier = await TierAsync(o => { NoHeartbeat(o); o.Configuration = $"{link.EndPoint},connectTimeout=10000"; });
        using var node = new StampedeCache(new StampedeCacheOptions(), distributedStore: batchTier, backplane: batchTier);

        // The node learns the store's record of "clear everything" with its first read of a stored value (once per node),
        // and after 32 L2 hits it expects hits: its reads start with the plain HMGET. (A node that expects misses reads
        // through the script at once: the batch then takes two round trips, with a script per key.)
        var warm = await node.GetOrCreateManyAsync<string>(warmUp, (_, _) => throw new InvalidOperationException("all stored"), entry);
        warm.Values.Should().OnlyContain(v => v.StartsWith("stored:warm-up", StringComparison.Ordinal));

        var fastest = TimeSpan.MaxValue;
        foreach (var keys in keySets)
        {
            var factoryCalls = new List<IReadOnlyList<string>>();
            var before = await Redis.CommandStatsAsync();
            var stopwatch = Stopwatch.StartNew();

            var result = await node.GetOrCreateManyAsync<string>(
                keys,
                (missing, _) =>
                {
                    factoryCalls.Add(missing);
                    return ValueTask.FromResult<IReadOnlyDictionary<string, string>>(missing.ToDictionary(k => k, k => "made:" + k));
                },
                entry);

            var elapsed = stopwatch.Elapsed;
            var after = await Redis.CommandStatsAsync();
            long Delta(string command) => after.GetValueOrDefault(command) - before.GetValueOrDefault(command);
            output.WriteLine($"100 keys (90 in Redis, 10 missing) through a {Latency.TotalMilliseconds} ms link: {elapsed.TotalMilliseconds:F0} ms; hmget {Delta("hmget")}, scripts {Delta("evalsha") + Delta("eval")}");
            result.Should().HaveCount(100);
            result.Where(kv => kv.Value.StartsWith("stored:", StringComparison.Ordinal)).Should().HaveCount(90);
            factoryCalls.Should().ContainSingle().Which.Should().Equal(keys.Skip(90));

            // Sent: 100 plain HMGETs; for the 10 missing, 10 read-or-acquire scripts (each runs an HMGET inside, which
            // Redis counts too) and 10 fenced write scripts.
            Delta("hmget").Should().Be(110);
            (Delta("evalsha") + Delta("eval")).Should().Be(20);

            // Three replies had to arrive one after the other (reads, then barriers, then writes): at least 3 x the latency.
            elapsed.Should().BeGreaterThanOrEqualTo(3 * Latency - TimeSpan.FromMilliseconds(5), "a cold key needs three dependent round trips");
            fastest = elapsed < fastest ? elapsed : fastest;
        }

        // A fourth would take the call past 4 x. The margin between is the machine's own time (100 keys decoded, stored).
        fastest.Should().BeLessThan(4 * Latency, "the batch waits for at most three round trips one after the other");
    }
}
