using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// A fresh L1 hit, the common case. Baseline: <see cref="IMemoryCache"/>'s TryGetValue on the same key, the least a
/// cache can do. Target: StampedeGuard's TState overload at most 1.3x the baseline and 0 bytes per call.
/// </summary>
public class HitBenchmarks
{
    private const string Key = "landing-page";
    private const int PerThread = 100_000;
    private static readonly StampedeCacheEntryOptions Options = new() { Duration = TimeSpan.FromHours(1) };

    private MemoryCache _memory = null!;
    private MemoryCache _guardMemory = null!;
    private StampedeCache _cache = null!;
    private readonly Page _page = new("<html>landing</html>");

    [GlobalSetup]
    public void Setup()
    {
        _memory = new MemoryCache(new MemoryCacheOptions());
        _memory.Set(Key, _page, TimeSpan.FromHours(1));
        _guardMemory = new MemoryCache(new MemoryCacheOptions());
        _cache = new StampedeCache(null, _guardMemory);
        _ = Hit();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _guardMemory.Dispose();
        _memory.Dispose();
    }

    [Benchmark(Baseline = true, Description = "IMemoryCache.TryGetValue")]
    public Page? MemoryCacheTryGetValue() => _memory.TryGetValue(Key, out Page? page) ? page : null;

    [Benchmark(Description = "StampedeCache.GetOrCreateAsync (TState, static)")]
    public Page StampedeGuardHit() => Hit();

    [Benchmark(Description = "IMemoryCache.GetOrCreateAsync")]
    public Page? MemoryCacheGetOrCreateAsync()
    {
        var task = _memory.GetOrCreateAsync(Key, static entry => Task.FromResult(new Page("never")));
        return task.IsCompletedSuccessfully ? task.Result : null;
    }

    [Benchmark(OperationsPerInvoke = 2 * PerThread, Description = "IMemoryCache.TryGetValue, 2 threads")]
    public void MemoryCacheTryGetValueTwoThreads() => Parallel.Invoke(MemoryLoop, MemoryLoop);

    [Benchmark(OperationsPerInvoke = 2 * PerThread, Description = "StampedeCache hit, 2 threads")]
    public void StampedeGuardHitTwoThreads() => Parallel.Invoke(GuardLoop, GuardLoop);

    private Page Hit()
    {
        var task = _cache.GetOrCreateAsync<Page, Page>(Key, _page, static (page, _, _) => new ValueTask<Page>(page), Options);
        return task.IsCompletedSuccessfully ? task.Result : throw new InvalidOperationException("Not a synchronous hit.");
    }

    private void MemoryLoop()
    {
        for (var i = 0; i < PerThread; i++)
        {
            _ = MemoryCacheTryGetValue();
        }
    }

    private void GuardLoop()
    {
        for (var i = 0; i < PerThread; i++)
        {
            _ = Hit();
        }
    }
}
