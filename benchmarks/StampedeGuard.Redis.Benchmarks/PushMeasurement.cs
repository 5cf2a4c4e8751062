using System.Diagnostics;
using StampedeGuard;
using StampedeGuard.Redis;
using StampedeGuard.TestSupport.Redis;

/// <summary>
/// Value push vs invalidation (issue 18, item 3): a write either carries the value to every subscribed node (their next
/// read is a memory hit) or only tells them to drop their copy (their next read goes to Redis). Measures, on one
/// redis-server, the bytes Redis sends and receives per write (the write, its message, and every node's next read until
/// it sees the new value) and how long the other nodes take to see it, for 1 KiB and 256 KiB values with 3 and 10 nodes.
/// </summary>
internal static class PushMeasurement
{
    public static async Task RunAsync(RedisServer server, int writes)
    {
        Console.WriteLine("## Value push vs invalidation: bytes on the wire per write, and time until every other node sees it");
        Console.WriteLine();
        Console.WriteLine("Each write is a `SetAsync` of a new value on one node; then every other node reads the key until it sees that value");
        Console.WriteLine("(a node that heard the push answers from memory; one that heard an invalidation reads Redis once). Bytes are Redis's");
        Console.WriteLine("`total_net_output_bytes` + `total_net_input_bytes` deltas divided by the writes (heartbeats included: about 0.1 KiB per node");
        Console.WriteLine("per 500 ms). \"Seen by all\" is from the write's return to the last node's first read of the new value, p50.");
        Console.WriteLine();
        Console.WriteLine("| Value | Other nodes | Mode | KiB on the wire per write | of which Redis sent | Seen by all, p50 (ms) |");
        Console.WriteLine("|---:|---:|---|---:|---:|---:|");
        foreach (var size in new[] { 1024, 256 * 1024 })
        {
            foreach (var nodes in new[] { 3, 10 })
            {
                foreach (var push in new[] { true, false })
                {
                    await RowAsync(server, size, nodes, push, size > 64 * 1024 ? Math.Max(writes / 10, 20) : writes);
                }
            }
        }

        Console.WriteLine();
    }

    private static async Task RowAsync(RedisServer server, int size, int others, bool push, int writes)
    {
        var prefix = $"push{size}-{others}-{push}:";
        var options = new RedisStampedeOptions { Configuration = server.Configuration, KeyPrefix = prefix, MaximumNotificationPayloadBytes = push ? 1024 * 1024 : 0 };
        var tiers = new List<RedisStampedeTier>();
        var caches = new List<StampedeCache>();
        try
        {
            for (var i = 0; i <= others; i++)
            {
                var tier = await RedisStampedeTier.ConnectAsync(options);
                tiers.Add(tier);
                caches.Add(new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier));
            }

            var writer = caches[0];
            var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };
            var random = new Random(size + others);
            string NewValue() => string.Create(size, random, static (span, r) =>
            {
                for (var i = 0; i < span.Length; i++)
                {
                    span[i] = (char)('a' + r.Next(26));
                }
            });

            await writer.SetAsync("k", NewValue(), entry);
            foreach (var node in caches.Skip(1))
            {
                await node.TryGetAsync<string>("k"); // every node holds a copy, as in a fleet that serves the key
            }

            var seen = new double[writes];
            var before = await NetBytesAsync(server);
            for (var w = 0; w < writes; w++)
            {
                var value = NewValue();
                await writer.SetAsync("k", value, entry);
                var written = Stopwatch.GetTimestamp();
                await Task.WhenAll(caches.Skip(1).Select(async node =>
                {
                    var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 5;
                    while ((await node.TryGetAsync<string>("k")).Value != value)
                    {
                        if (Stopwatch.GetTimestamp() > deadline)
                        {
                            throw new TimeoutException("a node did not see the write within 5 s");
                        }

                        await Task.Yield();
                    }
                }));
                seen[w] = Stopwatch.GetElapsedTime(written).TotalMilliseconds;
            }

            var after = await NetBytesAsync(server);
            Array.Sort(seen);
            var total = (after.Output - before.Output + after.Input - before.Input) / (double)writes / 1024;
            var sent = (after.Output - before.Output) / (double)writes / 1024;
            Console.WriteLine($"| {size / 1024} KiB | {others} | {(push ? "push (value in the message)" : "invalidate (message without the value)")} | {total:F1} | {sent:F1} | {seen[writes / 2]:F2} |");
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }

            foreach (var tier in tiers)
            {
                await tier.DisposeAsync();
            }
        }
    }

    private static async Task<(long Output, long Input)> NetBytesAsync(RedisServer server)
    {
        var stats = (await server.CliAsync("info", "stats")).Split('\n').Select(l => l.Trim().Split(':')).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        return (long.Parse(stats["total_net_output_bytes"]), long.Parse(stats["total_net_input_bytes"]));
    }
}
