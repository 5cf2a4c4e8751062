using System.Diagnostics;
using System.Globalization;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>
/// The child's side of the peers mode (<c>--peer-worker LIBRARY CONFIGURATION</c>): one node of one library. It reads
/// one command a line from stdin and answers on stdout (a <c>watch</c> answers twice: when it holds the old value, and
/// when it sees the new one). Times are <see cref="Stopwatch.GetTimestamp"/> values: the monotonic clock every process
/// on the machine shares, so the parent compares them across processes.
/// </summary>
internal static class PeerWorker
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    public static async Task RunAsync(PeerLibrary library, string configuration)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        await using var cache = PeerCache.Create(library, configuration);
        while (await Console.In.ReadLineAsync() is { } line)
        {
            var a = line.Split(' ');
            switch (a[0])
            {
                case "ready":
                    await cache.Prepare(_ => ValueTask.FromResult(Payload("w")), Long)("warm-up");
                    Reply("ok");
                    break;
                case "cold":
                    await ColdAsync(cache, a[1], int.Parse(a[2]), long.Parse(a[3]), TimeSpan.FromMilliseconds(double.Parse(a[4])));
                    break;
                case "set":
                    var setStart = Stopwatch.GetTimestamp();
                    await cache.SetAsync(a[1], Payload(a[2]), TimeSpan.FromMilliseconds(double.Parse(a[3])));
                    Reply($"{setStart} {Stopwatch.GetTimestamp()}");
                    break;
                case "l2hit":
                    await L2HitAsync(cache, a[1], int.Parse(a[2]));
                    break;
                case "watch":
                    await WatchAsync(cache, a[1], Payload(a[2]), TimeSpan.FromMilliseconds(double.Parse(a[3])));
                    break;
                case "landing":
                    await LandingAsync(cache, a[1], int.Parse(a[2]), long.Parse(a[3]), TimeSpan.FromSeconds(double.Parse(a[4])), TimeSpan.FromMilliseconds(double.Parse(a[5])), TimeSpan.FromMilliseconds(double.Parse(a[6])));
                    break;
                case "steady":
                    await SteadyAsync(cache, a[1], int.Parse(a[2]), int.Parse(a[3]), long.Parse(a[4]), TimeSpan.FromSeconds(double.Parse(a[5])), TimeSpan.FromMilliseconds(double.Parse(a[6])));
                    break;
                case "exit":
                    return;
                default:
                    throw new InvalidOperationException($"Unknown command: {line}");
            }
        }
    }

    /// <summary>A 1 KiB string that starts with <paramref name="token"/>.</summary>
    public static string Payload(string token) => token + new string('.', 1024 - token.Length);

    private static void Reply(string line) => Console.Out.WriteLine(line);

    /// <summary>All <paramref name="callers"/> wait at a gate opened at <paramref name="start"/>; answers the factory runs and when the last caller had its value.</summary>
    private static async Task ColdAsync(PeerCache cache, string key, int callers, long start, TimeSpan factoryTime)
    {
        var runs = 0;
        var call = cache.Prepare(async ct => { Interlocked.Increment(ref runs); await Task.Delay(factoryTime, ct); return Payload(key); }, Long);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            await gate.Task;
            await call(key);
            return Stopwatch.GetTimestamp();
        })).ToArray();
        await WaitUntilAsync(start);
        gate.SetResult();
        var ends = await Task.WhenAll(calls);
        Reply($"{runs} {ends.Max()}");
    }

    /// <summary>Sequential reads of a value that is in Redis, each skipping the memory tier; answers p50 (µs), factory runs and calls made.</summary>
    private static async Task L2HitAsync(PeerCache cache, string key, int calls)
    {
        var runs = 0;
        var call = cache.Prepare(_ => { runs++; return ValueTask.FromResult(Payload(key)); }, Long, skipLocalRead: true);
        // Warm-up: a second of hits, so the tiered JIT has compiled the path at tier 1 (500 calls take a tenth of that).
        var warmUp = 0;
        for (var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency; Stopwatch.GetTimestamp() < until; warmUp++)
        {
            await call(key);
        }

        var samples = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await call(key);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        Array.Sort(samples);
        Reply($"{samples[calls / 2]} {runs} {calls + warmUp}");
    }

    /// <summary>Reads the key once (answers whether that read already saw <paramref name="expected"/>), then polls every millisecond until it does.</summary>
    private static async Task WatchAsync(PeerCache cache, string key, string expected, TimeSpan timeout)
    {
        var seen = await cache.TryGetAsync(key) == expected;
        Reply($"ok {seen}");
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!seen && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(1);
            seen = await cache.TryGetAsync(key) == expected;
        }

        Reply(seen ? Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture) : "never");
    }

    /// <summary>
    /// DiskCache's landing page: <paramref name="workers"/> loops of "call, then sleep 10 ms" on one key whose factory
    /// takes <paramref name="factoryTime"/> and whose entries live <paramref name="ttl"/>, after one warm-up call 0.4 s before the start.
    /// Answers the calls, the calls over 100 ms and the factory runs of this process.
    /// </summary>
    private static async Task LandingAsync(PeerCache cache, string key, int workers, long start, TimeSpan length, TimeSpan factoryTime, TimeSpan ttl)
    {
        var runs = 0;
        var call = cache.Prepare(async ct => { Interlocked.Increment(ref runs); await Task.Delay(factoryTime, ct); return Payload(key); }, ttl);
        await WaitUntilAsync(start - (Stopwatch.Frequency * 2 / 5));
        await call(key);
        await WaitUntilAsync(start);
        var runsBefore = Volatile.Read(ref runs);
        var end = start + (long)(length.TotalSeconds * Stopwatch.Frequency);
        var results = await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            var (count, slow) = (0, 0);
            while (Stopwatch.GetTimestamp() < end)
            {
                var begin = Stopwatch.GetTimestamp();
                await call(key);
                count++;
                slow += Stopwatch.GetElapsedTime(begin) > TimeSpan.FromMilliseconds(100) ? 1 : 0;
                await Task.Delay(10);
            }

            return (count, slow);
        })));
        Reply($"{results.Sum(r => r.count)} {results.Sum(r => r.slow)} {Volatile.Read(ref runs) - runsBefore}");
    }

    /// <summary>
    /// <paramref name="loops"/> tight loops over <paramref name="keyCount"/> keys (factory: an existing value, entries
    /// living <paramref name="ttl"/>) from now; answers the calls made between <paramref name="start"/> and its end.
    /// </summary>
    private static async Task SteadyAsync(PeerCache cache, string prefix, int loops, int keyCount, long start, TimeSpan length, TimeSpan ttl)
    {
        var value = Payload("s");
        var call = cache.Prepare(_ => ValueTask.FromResult(value), ttl);
        var keys = Enumerable.Range(0, keyCount).Select(i => prefix + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        var end = start + (long)(length.TotalSeconds * Stopwatch.Frequency);
        var counts = await Task.WhenAll(Enumerable.Range(0, loops).Select(loop => Task.Run(async () =>
        {
            var random = new Random(loop);
            long counted = 0;
            while (true)
            {
                var now = Stopwatch.GetTimestamp();
                if (now >= end)
                {
                    return counted;
                }

                for (var i = 0; i < 64; i++)
                {
                    await call(keys[random.Next(keys.Length)]);
                }

                counted += now >= start ? 64 : 0;
            }
        })));
        Reply(counts.Sum().ToString(CultureInfo.InvariantCulture));
    }

    private static async Task WaitUntilAsync(long timestamp)
    {
        while (Stopwatch.GetTimestamp() < timestamp - (Stopwatch.Frequency / 50))
        {
            await Task.Delay(5);
        }

        while (Stopwatch.GetTimestamp() < timestamp)
        {
            Thread.SpinWait(20);
        }
    }
}
