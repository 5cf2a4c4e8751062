using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Benchmarks.Peers;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// <c>--paired</c>: the hit-path ratios measured so that a noisy, shared machine cannot skew them. Every round times
/// one short batch of each variant back to back, in a random order (about a millisecond each); the ratio to the baseline is taken per
/// round and the median over all rounds is reported, so load that comes and goes hits every variant alike.
/// </summary>
public static class PairedHitRunner
{
    private const string Key = "landing-page";
    private const int Batch = 20_000;
    private static readonly StampedeCacheEntryOptions Options = new() { Duration = TimeSpan.FromHours(1) };

    /// <summary>Runs every section with <paramref name="rounds"/> rounds; the early-refresh section only when asked.</summary>
    public static void Run(int rounds, bool includeEarlyRefresh = true)
    {
        using var memory = new MemoryCache(new MemoryCacheOptions());
        // The default set-up (the engine's private L1, on its own monotonic clock), and a cache over a shared
        // IMemoryCache of the application's (whose expiry runs on the wall clock, so each hit checks the entry's times).
        using var cache = new StampedeCache(new StampedeCacheOptions());
        using var guardMemory = new MemoryCache(new MemoryCacheOptions());
        using var shared = new StampedeCache(null, guardMemory);
        var page = new Page("<html>landing</html>");
        memory.Set(Key, page, TimeSpan.FromHours(1));
        // As a DI user gets it: AddStampedeGuard() (the engine's own L1), and with UseRegisteredMemoryCache() (the L1 in
        // the registered IMemoryCache, HybridCache's set-up); each called as HybridCache, the same way as Microsoft's
        // row, and as IStampedeCache (the same registration's engine: both hit the one entry of the key).
        using var hybrid = new HybridCachePeer(page);
        using var fusion = new FusionCachePeer(page);
        using var diHybrid = new StampedeGuardHybridPeer(page);
        using var diRegisteredHybrid = new StampedeGuardHybridPeer(page, registeredMemoryCache: true);
        var diCache = diHybrid.Services.GetRequiredService<StampedeCache>();
        var diRegisteredCache = diRegisteredHybrid.Services.GetRequiredService<StampedeCache>();
        foreach (var peer in new CachePeer[] { hybrid, fusion, diHybrid, diRegisteredHybrid })
        {
            _ = peer.GetOrCreateAsync(Key).AsTask().GetAwaiter().GetResult();
        }

        // Warm up: the first call is a miss, and a miss runs its factory on the thread pool.
        foreach (var on in new[] { cache, shared })
        {
            on.GetOrCreateAsync<Page, Page>(Key, page, static (p, _, _) => new ValueTask<Page>(p), Options).AsTask().GetAwaiter().GetResult();
        }

        Page Hit() => HitOn(cache);
        Page SharedHit() => HitOn(shared);
        Page HitOn(StampedeCache on)
        {
            var task = on.GetOrCreateAsync<Page, Page>(Key, page, static (p, _, _) => new ValueTask<Page>(p), Options);
            return task.IsCompletedSuccessfully ? task.Result : throw new InvalidOperationException("Not a synchronous hit.");
        }

        object? TryGet() => memory.TryGetValue(Key, out var found) ? found : null;

        (string Name, Func<object?> Call)[] variants =
        [
            ("IMemoryCache.TryGetValue (baseline)", TryGet),
            ("StampedeCache.GetOrCreateAsync hit (TState, static lambda)", Hit),
            ("StampedeCache hit over a shared IMemoryCache", SharedHit),
            ("DI AddStampedeGuard(): IStampedeCache hit", () => HitOn(diCache)),
            ("DI AddStampedeGuard().UseRegisteredMemoryCache(): IStampedeCache hit", () => HitOn(diRegisteredCache)),
            ("DI AddStampedeGuard(): HybridCache hit", () => diHybrid.Hit(Key)),
            ("DI AddStampedeGuard().UseRegisteredMemoryCache(): HybridCache hit", () => diRegisteredHybrid.Hit(Key)),
            ("HybridCache.GetOrCreateAsync hit (TState, static lambda)", () => hybrid.Hit(Key)),
            ("FusionCache.GetOrSetAsync hit", () => fusion.Hit(Key)),
            ("IMemoryCache.GetOrCreateAsync hit", () => memory.GetOrCreateAsync(Key, static _ => Task.FromResult(new Page("never"))).Result),
            ("TryGetValue + DateTime.UtcNow", () => TryGet() is { } v && DateTime.UtcNow.Ticks > 0 ? v : null),
            ("TryGetValue + Stopwatch.GetTimestamp", () => TryGet() is { } v && Stopwatch.GetTimestamp() > 0 ? v : null),
            ("TryGetValue + Environment.TickCount64", () => TryGet() is { } v && Environment.TickCount64 > 0 ? v : null),
        ];

        Report("Fresh hit", variants, rounds, threads: 1);
        foreach (var threads in new[] { 2, Environment.ProcessorCount }.Distinct())
        {
            Report($"Fresh hit on {threads} threads at once (each batch split over {threads} threads; ns per call, wall clock)", [
                ($"IMemoryCache.TryGetValue, {threads} threads (baseline)", TryGet),
                ($"StampedeCache.GetOrCreateAsync hit, {threads} threads", Hit),
                ($"HybridCache.GetOrCreateAsync hit, {threads} threads", () => hybrid.Hit(Key)),
                ($"FusionCache.GetOrSetAsync hit, {threads} threads", () => fusion.Hit(Key)),
            ], rounds, threads);
        }

        if (!includeEarlyRefresh)
        {
            return;
        }

        var early = new EarlyRefreshBenchmarks();
        early.Setup().GetAwaiter().GetResult(); // a console entry point: nothing to deadlock
        try
        {
            Report("Early-refresh check on a hit (manual clock, Duration 1 h, factory time 100 ms)", [
                ("XFetch beta=1, far from expiry (baseline)", early.XFetchFar),
                ("XFetch beta=1, 3 s before expiry (random + log per hit)", early.XFetchNear),
                ("Adaptive, far from expiry", early.AdaptiveFar),
                ("Adaptive, inside the lead, refresh running", early.AdaptiveNear),
                ("XFetch, real clock, past the refresh point (production slow path)", early.XFetchRealClock),
            ], rounds, threads: 1);
        }
        finally
        {
            early.Cleanup();
        }
    }

    private static void Report(string title, (string Name, Func<object?> Call)[] variants, int rounds, int threads)
    {
        var batched = threads > 1;
        variants = batched ? [.. variants.Select(v => (v.Name, OnThreads(threads, v.Call)))] : variants;
        var samples = variants.Select(_ => new List<double>(rounds)).ToArray();
        var ratios = variants.Select(_ => new List<double>(rounds)).ToArray();
        var allocated = new long[variants.Length];
        for (var i = 0; i < variants.Length; i++)
        {
            Measure(variants[i].Call, batched, out _); // warm up
        }

        for (var round = 0; round < rounds; round++)
        {
            var times = new double[variants.Length];
            foreach (var i in Enumerable.Range(0, variants.Length).OrderBy(_ => Random.Shared.Next()))
            {
                times[i] = Measure(variants[i].Call, batched, out _); // a new order every round: no variant always runs first
            }

            for (var i = 0; i < variants.Length; i++)
            {
                samples[i].Add(times[i]);
                ratios[i].Add(times[i] / times[0]);
            }
        }

        // Bytes after the rounds, when every variant runs optimized code: tier-0 code can box what tier-1 code does not
        // (HybridCache's hit showed 96 B per call when measured right after the warm-up, 0 B here and in BenchmarkDotNet).
        for (var i = 0; i < variants.Length; i++)
        {
            Measure(variants[i].Call, batched, out allocated[i]);
        }

        Console.WriteLine($"{title}: {rounds} rounds x {Batch} calls per variant, median per-round ratio to the baseline.");
        Console.WriteLine();
        Console.WriteLine("| Variant | Median ns/call | Median ratio | p10-p90 ratio | Bytes/call |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        for (var i = 0; i < variants.Length; i++)
        {
            var r = ratios[i].Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {variants[i].Name} | {Median(samples[i]):0.0} | {r[r.Length / 2]:0.00}x | {r[r.Length / 10]:0.00}-{r[r.Length * 9 / 10]:0.00} | {(batched ? "n/a" : (allocated[i] / (double)Batch).ToString("0.#", CultureInfo.InvariantCulture))} |"));
        }

        Console.WriteLine();
    }

    /// <summary>One call of the returned function makes <see cref="Batch"/> calls of <paramref name="call"/>, split over <paramref name="threads"/> threads.</summary>
    private static Func<object?> OnThreads(int threads, Func<object?> call)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        void Share(int part)
        {
            for (var i = 0; i < Batch / threads; i++)
            {
                _ = call();
            }
        }

        return () =>
        {
            Parallel.For(0, threads, options, Share);
            return null;
        };
    }

    /// <summary>Times <see cref="Batch"/> calls (or one call of a function that makes them itself) in ns per call.</summary>
    private static double Measure(Func<object?> call, bool batched, out long allocatedBytes)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < (batched ? 1 : Batch); i++)
        {
            _ = call();
        }

        var elapsed = Stopwatch.GetElapsedTime(start);
        allocatedBytes = GC.GetAllocatedBytesForCurrentThread() - before;
        return elapsed.TotalNanoseconds / Batch;
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
}
