// Measures the Redis tier against a real redis-server it starts on a free loopback port:
//   1. round trips per operation (commands the clients sent, counted by the client) and what Redis ran for them
//      (INFO commandstats deltas, which count the commands inside scripts too);
//   2. L2 hit latency vs a plain GET of the same bytes (what a hand-written Redis cache does);
//   3. lock acquire+release throughput, uncontended and contended;
//   4. time from a lock holder's death (it stops extending its lease) to the next value.
// Usage: dotnet run -c Release [-- --iterations 2000]
// Or, the L2 hit against HybridCache over RedisCache, same run (rounds interleaved; commands per hit counted by Redis):
//   dotnet run -c Release -- --l2hit [--rounds 20] [--calls 500]
// Or, the L2 hit through each set-up (bare tier and engine as --l2hit, AddStampedeGuard().AddRedis(...) as --peers,
// their differences one at a time, HybridCache), one process: dotnet run -c Release -- --l2hit-setups [--rounds 10] [--calls 500]
// Or, the peers mode's L2 hit row alone with many rounds (a writer and a reader process per library, kept for the run):
//   dotnet run -c Release -- --l2hit-peers [--rounds 20] [--calls 500] [--cold] [--libraries StampedeGuard,StampedeGuardBare,FusionCache,HybridCache]
// Or, L2 compression only (bytes stored in Redis and time per L2 write/read of 1 KiB, 32 KiB and 512 KiB JSON lists,
// uncompressed, Brotli and ZLib): dotnet run -c Release -- --compression
// Or, value push vs invalidation (bytes on the wire per write and time until every other node sees it, 1 KiB and
// 256 KiB values, 3 and 10 other nodes): dotnet run -c Release -- --push
// Or, StampedeGuard against FusionCache (Redis L2 + backplane + distributed locker) and HybridCache (Redis L2), each as
// 3 processes over one redis-server, interleaved round by round (docs/benchmarks.md, "Peers over one Redis"):
//   dotnet run -c Release -- --peers [--rounds 5] [--landing-seconds 20] [--steady-seconds 5] [--cold-callers 100]
//     [--calls 500] [--see-samples 20] [--see-timeout-ms 1000] [--duration-ms 1000 (the landing page's and steady state's entries)]
// Or, batch GetOrCreate (100 keys, 90 in Redis, 10 missing, 3 nodes at once) against 100 single calls, HybridCache and
// FusionCache, same run: dotnet run -c Release -- --batch [--rounds 10] [--origin-ms 10] [--latency-ms 0]
using System.Diagnostics;
using StackExchange.Redis;
using StampedeGuard;
using StampedeGuard.Distributed;
using StampedeGuard.Locking;
using StampedeGuard.Redis;
using StampedeGuard.Redis.Benchmarks.Peers;
using StampedeGuard.TestSupport;
using StampedeGuard.TestSupport.Redis;

if (args.Length == 3 && args[0] == "--peer-worker")
{
    await PeerWorker.RunAsync(Enum.Parse<PeerLibrary>(args[1]), args[2]);
    return;
}

var iterations = args.Length > 1 && args[0] == "--iterations" ? int.Parse(args[1]) : 2000;
await using var server = await RedisServer.StartAsync();
Console.WriteLine($"# StampedeGuard.Redis measurements ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
Console.WriteLine();
Console.WriteLine($"redis-server {(await server.CliAsync("info", "server")).Split('\n').First(l => l.StartsWith("redis_version")).Split(':')[1].Trim()} on 127.0.0.1, {Environment.ProcessorCount} cores, .NET {Environment.Version}, StackExchange.Redis {System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(typeof(StackExchange.Redis.ConnectionMultiplexer).Assembly)?.InformationalVersion}, {iterations} iterations per row.");
Console.WriteLine();

int Arg(string name, int fallback) => Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1]) : fallback;
if (args.Contains("--peers"))
{
    await PeersComparison.RunAsync(server, new PeersSettings(Arg("--rounds", 5), Arg("--cold-callers", 100), Arg("--calls", 500), Arg("--see-samples", 20), TimeSpan.FromMilliseconds(Arg("--see-timeout-ms", 1000)), Arg("--landing-seconds", 20), Arg("--steady-seconds", 5), TimeSpan.FromMilliseconds(Arg("--duration-ms", 1000))));
    return;
}

if (args.Contains("--l2hit"))
{
    await StampedeGuard.Redis.Benchmarks.L2HitComparison.RunAsync(server, Arg("--rounds", 20), Arg("--calls", 500));
    return;
}

if (args.Contains("--l2hit-peers"))
{
    await L2HitProcesses.RunAsync(server.Configuration, Arg("--rounds", 20), Arg("--calls", 500), args.Contains("--cold"), Array.IndexOf(args, "--libraries") is var l and >= 0 ? [.. args[l + 1].Split(',').Select(Enum.Parse<PeerLibrary>)] : [PeerLibrary.StampedeGuard, PeerLibrary.FusionCache, PeerLibrary.HybridCache]);
    return;
}

if (args.Contains("--l2hit-setups"))
{
    await StampedeGuard.Redis.Benchmarks.L2HitSetups.RunAsync(server, Arg("--rounds", 10), Arg("--calls", 500));
    return;
}

if (args.Contains("--batch"))
{
    await StampedeGuard.Redis.Benchmarks.BatchMeasurement.RunAsync(server, Arg("--rounds", 10), TimeSpan.FromMilliseconds(Arg("--origin-ms", 10)), TimeSpan.FromMilliseconds(Arg("--latency-ms", 0)));
    return;
}

// The modes above run without this process's own tiers (their heartbeats would land in Redis's command counts).
var connection = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
var db = connection.GetDatabase();
await using var a = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = server.Configuration, KeyPrefix = "b:" });
await using var b = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = server.Configuration, KeyPrefix = "b:" });
var envelope = new byte[1024];
Random.Shared.NextBytes(envelope);
var lease = TimeSpan.FromSeconds(10);
DistributedReadOptions Acquire() => new() { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = lease };
DistributedWriteOptions Write(StampedeLease? l, long? version = null) => new() { TimeToLive = TimeSpan.FromMinutes(5), FreshUntil = DateTimeOffset.UtcNow.AddMinutes(5), Lease = l, Notify = true, ExpectedVersion = version };

if (args.Contains("--compression"))
{
    await CompressionAsync();
    return;
}

if (args.Contains("--push"))
{
    await PushMeasurement.RunAsync(server, 200);
    return;
}

// 1. Round trips.
Console.WriteLine("## Round trips per operation (commands sent, counted by the client; what Redis ran, counted by Redis)");
Console.WriteLine();
Console.WriteLine("| Operation | Round trips (commands the clients sent) | Commands Redis ran per operation (scripts and the commands inside them) |");
Console.WriteLine("|---|---:|---|");
await a.WriteAsync("hit", envelope, Write(null), default);
await Row("L2 hit (read, value fresh)", iterations, async _ => await a.ReadAsync("hit", Acquire(), default));
await Row("Leader of a miss, cold key (plain read, read-or-acquire, then fenced write+release+publish)", iterations, async i =>
{
    var read = await a.ReadAsync($"miss{i}", Acquire(), default);
    await a.WriteAsync($"miss{i}", envelope, Write(read.Lease), default);
});
for (var i = -1; i < iterations; i++)
{
    await a.WriteAsync($"stale{i}", envelope, Write(null) with { FreshUntil = DateTimeOffset.UtcNow.AddSeconds(-1) }, default);
}

await Row("Leader of a refresh, node holding a stale copy (read-or-acquire with the clock, then fenced write+release+publish)", iterations, async i =>
{
    var read = await a.ReadAsync($"stale{i}", Acquire() with { RequireStamp = true }, default);
    await a.WriteAsync($"stale{i}", envelope, Write(read.Lease), default);
});
var waiterCounts = await WaiterRoundTripsAsync(iterations / 4);
Console.WriteLine($"| Waiter of a miss (read finds lock held, then waits for the push) | {waiterCounts:F2} | hmget, evalsha (+ the push) |");
using (var nodeA = new StampedeCache(new StampedeCacheOptions(), distributedStore: a, backplane: a))
using (var nodeB = new StampedeCache(new StampedeCacheOptions(), distributedStore: b, backplane: b))
{
    var engineEntry = new StampedeCacheEntryOptions { EarlyRefreshBeta = 0 };
    await Row("Two-node miss through StampedeCache: leader + waiter together (node B asks while A computes)", Math.Max(iterations / 10, 50), async i =>
    {
        var first = nodeA.GetOrCreateAsync($"engine{i}", async ct => { await Task.Delay(20, ct); return envelope; }, engineEntry).AsTask();
        await Task.Delay(5);
        var second = nodeB.GetOrCreateAsync($"engine{i}", async ct => { await Task.Delay(20, ct); return envelope; }, engineEntry).AsTask();
        await Task.WhenAll(first, second);
    });
}

await Row("Lock acquire + release (RedisStampedeLock)", iterations, async i =>
{
    var lease1 = await new RedisStampedeLock(a).AcquireAsync("lock" + (i % 10));
    await lease1.ReleaseAsync();
});
Console.WriteLine();

// 2. L2 hit latency.
Console.WriteLine("## L2 hit latency (1 KiB value, one client, sequential)");
Console.WriteLine();
Console.WriteLine("| Call | p50 µs | p90 µs | p99 µs | ops/s |");
Console.WriteLine("|---|---:|---:|---:|---:|");
await db.StringSetAsync("plain", envelope);
await Latency("Baseline: StackExchange.Redis StringGetAsync (plain GET)", async () => await db.StringGetAsync("plain"));
await Latency("RedisStampedeTier.ReadAsync (plain HMGET, no lock)", async () => await a.ReadAsync("hit", default, default));
await Latency("RedisStampedeTier.ReadAsync (plain HMGET, acquire-if-not-fresh, fresh)", async () => await a.ReadAsync("hit", Acquire(), default));
await Latency("RedisStampedeTier.ReadAsync (Lua, RequireStamp: the script alone)", async () => await a.ReadAsync("hit", Acquire() with { RequireStamp = true }, default));
using (var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: a, backplane: a))
{
    var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5) };
    await cache.GetOrCreateAsync("engine-hit", _ => ValueTask.FromResult(envelope), entry);
    await Latency("StampedeCache.GetOrCreateAsync, L1 hit", async () => await cache.GetOrCreateAsync("engine-hit", _ => ValueTask.FromResult(envelope)));
}

Console.WriteLine();

// 3. Lock throughput.
Console.WriteLine("## Lock throughput (acquire + release)");
Console.WriteLine();
Console.WriteLine("| Scenario | ops/s | p50 µs | p99 µs |");
Console.WriteLine("|---|---:|---:|---:|");
await LockThroughput("Uncontended: 1 caller, distinct names", 1, distinct: true);
await LockThroughput("Parallel: 8 callers on 2 connections, distinct names", 8, distinct: true);
await LockThroughput("Contended: 8 callers on 2 connections, one name", 8, distinct: false);
Console.WriteLine();

// 4. Death to next value.
Console.WriteLine("## Lock holder death to next value");
Console.WriteLine();
Console.WriteLine("A leader takes the barrier and dies (its watchdog stops; nothing is released). Another node's caller");
Console.WriteLine("asks for the key at the moment of death. Time until that caller has a value (factory: 10 ms).");
Console.WriteLine();
Console.WriteLine("| Lease | runs | min ms | median ms | max ms | median minus lease ms |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
foreach (var leaseMs in new[] { 500, 2000 })
{
    await DeathToValue(TimeSpan.FromMilliseconds(leaseMs), 5);
}

connection.Dispose();
return;

async Task<Dictionary<string, long>> Stats()
{
    var text = await server.CliAsync("info", "commandstats");
    var result = new Dictionary<string, long>();
    foreach (var line in text.Split('\n').Where(l => l.StartsWith("cmdstat_")))
    {
        var name = line[8..line.IndexOf(':')];
        var calls = line[(line.IndexOf("calls=") + 6)..];
        result[name] = long.Parse(calls[..calls.IndexOf(',')]);
    }

    return result;
}

// What Redis ran (INFO commandstats counts the commands a script runs too, so a script's HMGET and a plain HMGET
// look alike there). The tiers' own background traffic (heartbeats: incr, publish) is excluded by name.
static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after) =>
    after.Where(kv => kv.Key is "eval" or "evalsha" or "get" or "hmget" or "hget" or "exists" or "pexpire" or "set" or "time" or "del" or "hset" or "pttl")
        .Select(kv => (kv.Key, Value: kv.Value - before.GetValueOrDefault(kv.Key)))
        .Where(kv => kv.Value > 0)
        .ToDictionary(kv => kv.Key, kv => kv.Value);

// Round trips: the commands the two tiers' clients sent (interactive connections; a script is one command, a plain
// HMGET another), counted by the client. Heartbeats (one script per node per 500 ms) land in it now and then.
long Sent() => a.Connection!.GetCounters().Interactive.OperationCount + b.Connection!.GetCounters().Interactive.OperationCount;

async Task Row(string name, int n, Func<int, Task> op)
{
    await op(-1);
    var before = await Stats();
    var sent = Sent();
    for (var i = 0; i < n; i++)
    {
        await op(i);
    }

    var trips = Sent() - sent;
    var delta = Delta(before, await Stats());
    Console.WriteLine($"| {name} | {(double)trips / n:F2} | {string.Join(", ", delta.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} x{(double)kv.Value / n:F2}"))} |");
}

async Task<double> WaiterRoundTripsAsync(int n)
{
    // The waiter's connection is b's; the leader's is a's. Count what b's client sends: read (the plain read misses,
    // read-or-acquire finds the lock held), then WaitForValueAsync answered by the push that carries the value.
    long waiterTrips = 0;
    long SentByB() => b.Connection!.GetCounters().Interactive.OperationCount;
    for (var i = 0; i < n; i++)
    {
        var key = $"wait{i}";
        var leader = await a.ReadAsync(key, Acquire(), default);
        var before = SentByB();
        var blocked = await b.ReadAsync(key, Acquire(), default);
        var wait = b.WaitForValueAsync(key, blocked.LockHeldFor!.Value, default).AsTask();
        await a.WriteAsync(key, envelope, Write(leader.Lease), default);
        var result = await wait;
        waiterTrips += SentByB() - before;
        if (result.Envelope is null)
        {
            throw new InvalidOperationException("The waiter got no value.");
        }
    }

    return (double)waiterTrips / n;
}

async Task Latency(string name, Func<Task> op)
{
    for (var i = 0; i < 200; i++)
    {
        await op();
    }

    var samples = new double[iterations];
    var total = Stopwatch.StartNew();
    for (var i = 0; i < iterations; i++)
    {
        var start = Stopwatch.GetTimestamp();
        await op();
        samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }

    total.Stop();
    Array.Sort(samples);
    Console.WriteLine($"| {name} | {P(samples, 0.5):F0} | {P(samples, 0.9):F0} | {P(samples, 0.99):F0} | {iterations / total.Elapsed.TotalSeconds:F0} |");
}

async Task LockThroughput(string name, int callers, bool distinct)
{
    var locks = new[] { new RedisStampedeLock(a), new RedisStampedeLock(b) };
    var perCaller = Math.Max(iterations / callers, 50);
    var samples = new double[perCaller * callers];
    var options = new StampedeLockOptions { LeaseDuration = TimeSpan.FromSeconds(10), AutoExtend = false, WaitTimeout = TimeSpan.FromSeconds(30) };
    var total = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
    {
        for (var i = 0; i < perCaller; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var l = await locks[c % 2].AcquireAsync(distinct ? $"n{c}:{i}" : "one", options);
            await l.ReleaseAsync();
            samples[(c * perCaller) + i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
    })));
    total.Stop();
    Array.Sort(samples);
    Console.WriteLine($"| {name} | {samples.Length / total.Elapsed.TotalSeconds:F0} | {P(samples, 0.5):F0} | {P(samples, 0.99):F0} |");
}

async Task DeathToValue(TimeSpan leaseLength, int runs)
{
    var times = new List<double>();
    for (var run = 0; run < runs; run++)
    {
        var key = $"death{leaseLength.TotalMilliseconds}:{run}";

        // The doomed leader's clock is frozen: its watchdog never extends, as after a crash.
        await using var doomed = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = server.Configuration, KeyPrefix = "b:" }, timeProvider: new FakeTimeProvider(DateTimeOffset.UtcNow));
        using var survivor = new StampedeCache(new StampedeCacheOptions { DistributedLockLease = leaseLength }, distributedStore: b, backplane: b);
        var taken = await doomed.ReadAsync(key, new DistributedReadOptions { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = leaseLength }, default);
        var stopwatch = Stopwatch.StartNew();
        await survivor.GetOrCreateAsync(key, async ct => { await Task.Delay(10, ct); return 1; }, new StampedeCacheEntryOptions { EarlyRefreshBeta = 0 });
        times.Add(stopwatch.Elapsed.TotalMilliseconds);
        _ = taken;
    }

    times.Sort();
    var median = times[times.Count / 2];
    Console.WriteLine($"| {leaseLength.TotalMilliseconds:F0} ms | {runs} | {times[0]:F0} | {median:F0} | {times[^1]:F0} | {median - leaseLength.TotalMilliseconds:F0} |");
}

// L2 compression: each codec's node writes (SetAsync: serialize, compress, Redis write, publish) and another node
// reads (TryGetAsync skipping L1: Redis read, decompress, deserialize) a List<Product> serialized by System.Text.Json.
async Task CompressionAsync()
{
    Console.WriteLine("## L2 compression (JSON list of objects; write = SetAsync on node A, read = TryGetAsync skipping L1 on node B; 1000/400/60 timed calls per 1 KiB/32 KiB/512 KiB row; the iteration count above does not apply)");
    Console.WriteLine();
    Console.WriteLine("| Payload | Codec (level) | HSTRLEN bytes | MEMORY USAGE bytes | vs none | write p50 µs | write mean µs | read p50 µs | read mean µs |");
    Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    var codecs = new (StampedeCompression Codec, System.IO.Compression.CompressionLevel Level)[]
    {
        (StampedeCompression.None, System.IO.Compression.CompressionLevel.Fastest),
        (StampedeCompression.Brotli, System.IO.Compression.CompressionLevel.Fastest),
        (StampedeCompression.Brotli, System.IO.Compression.CompressionLevel.Optimal),
        (StampedeCompression.ZLib, System.IO.Compression.CompressionLevel.Fastest),
        (StampedeCompression.ZLib, System.IO.Compression.CompressionLevel.Optimal),
    };
    foreach (var (target, runs) in new[] { (1024, 1000), (32 * 1024, 400), (512 * 1024, 60) })
    {
        var products = Products(target);
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(products);
        long plainBytes = 0;
        foreach (var (codec, level) in codecs)
        {
            var options = new StampedeCacheOptions { DistributedCompression = codec, DistributedCompressionLevel = level, DistributedCompressionThreshold = 1024, MaximumPayloadBytes = 4 * 1024 * 1024 };
            using var writer = new StampedeCache(options, distributedStore: a, backplane: a);
            using var reader = new StampedeCache(new StampedeCacheOptions { MaximumPayloadBytes = 4 * 1024 * 1024 }, distributedStore: b, backplane: b);
            var key = $"z{target}-{codec}-{level}";
            var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5) };
            var readEntry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), SkipLocalCacheRead = true };
            var write = await Time(runs, async () => await writer.SetAsync(key, products, entry));
            var read = await Time(runs, async () =>
            {
                if (!(await reader.TryGetAsync<List<Product>>(key, readEntry)).HasValue)
                {
                    throw new InvalidOperationException("missed");
                }
            });
            var stored = await db.HashStringLengthAsync("b:{" + key + "}:v", "v");
            var usage = (long)await db.ExecuteAsync("MEMORY", "USAGE", "b:{" + key + "}:v");
            plainBytes = codec == StampedeCompression.None ? stored : plainBytes;
            var name = codec == StampedeCompression.None ? "none" : $"{codec} ({level})";
            Console.WriteLine($"| {json.Length / 1024.0:F1} KiB, {products.Count} objects | {name} | {stored} | {usage} | {(double)stored / plainBytes:P0} | {write.P50:F0} | {write.Mean:F0} | {read.P50:F0} | {read.Mean:F0} |");
        }
    }
}

static async Task<(double P50, double Mean)> Time(int n, Func<Task> op)
{
    for (var i = 0; i < Math.Max(n / 10, 5); i++)
    {
        await op();
    }

    var samples = new double[n];
    for (var i = 0; i < n; i++)
    {
        var start = Stopwatch.GetTimestamp();
        await op();
        samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }

    Array.Sort(samples);
    return (P(samples, 0.5), samples.Average());
}

// Realistic-looking catalogue rows: varied names, words and numbers (seeded), until the JSON reaches the target size.
static List<Product> Products(int targetBytes)
{
    string[] words = ["steel", "oak", "blue", "compact", "wireless", "organic", "classic", "pro", "mini", "outdoor", "kitchen", "garden", "leather", "cotton", "smart", "travel", "vintage", "eco", "deluxe", "sport"];
    var random = new Random(42);
    var list = new List<Product>();
    while (System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(list).Length < targetBytes)
    {
        var id = list.Count + 1;
        string Words(int count) => string.Join(' ', Enumerable.Range(0, count).Select(_ => words[random.Next(words.Length)]));
        list.Add(new Product(
            id,
            $"SKU-{random.Next(100000, 999999)}",
            Words(3),
            Words(random.Next(6, 14)) + ".",
            Math.Round(random.NextDouble() * 500, 2),
            random.Next(0, 250),
            random.Next(2) == 1,
            [.. Enumerable.Range(0, random.Next(1, 4)).Select(_ => words[random.Next(words.Length)])],
            new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(random.Next(0, 500000))));
    }

    return list;
}

static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

internal sealed record Product(int Id, string Sku, string Name, string Description, double Price, int Stock, bool Available, string[] Tags, DateTimeOffset Updated);
