using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Memory;
using StampedeGuard.Internal;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// Where a fresh hit's time goes: the steps of StampedeCache's hit path added one at a time on top of
/// IMemoryCache.TryGetValue (the baseline), then the real call. Uses the internal entry type (InternalsVisibleTo).
/// </summary>
public class HitCostBreakdownBenchmarks
{
    private const string Key = "landing-page";
    private static readonly StampedeCacheEntryOptions Options = new() { Duration = TimeSpan.FromHours(1) };

    private readonly Page _page = new("<html>landing</html>");
    private MemoryCache _memory = null!;
    private int _flag;
    private StampedeCache _cache = null!;

    [GlobalSetup]
    public void Setup()
    {
        _memory = new MemoryCache(new MemoryCacheOptions());
        _cache = new StampedeCache(null, _memory);
        _ = Full();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _memory.Dispose();
    }

    [Benchmark(Baseline = true, Description = "1. IMemoryCache.TryGetValue")]
    public object? TryGetValue() => _memory.TryGetValue(Key, out var found) ? found : null;

    [Benchmark(Description = "2. + DateTime.UtcNow")]
    public object? WithClock() => _memory.TryGetValue(Key, out var found) && DateTime.UtcNow.Ticks > 0 ? found : null;

    [Benchmark(Description = "3. + type check (exact type)")]
    public Page? WithTypeCheck() =>
        _memory.TryGetValue(Key, out var found) && found is CacheEntry<Page> entry && entry.Error is null && DateTime.UtcNow.Ticks < entry.Times.FreshUntil ? entry.Value : null;

    [Benchmark(Description = "4. + type check in shared generic code")]
    public Page? WithGenericTypeCheck() => Generic<Page>();

    [Benchmark(Description = "5. Environment.TickCount64 alone")]
    public long CoarseClock() => Environment.TickCount64;

    [Benchmark(Description = "6. DateTime.UtcNow alone")]
    public long Clock() => DateTime.UtcNow.Ticks;

    [Benchmark(Description = "7. Random.Shared.NextDouble + Math.Log alone")]
    public double RandomLog() => Math.Log(1.0 - Random.Shared.NextDouble());

    [Benchmark(Description = "8. Interlocked.Exchange alone")]
    public int Exchange() => Interlocked.Exchange(ref _flag, 1);

    [Benchmark(Description = "9. StampedeCache.GetOrCreateAsync hit")]
    public Page Full()
    {
        var task = _cache.GetOrCreateAsync<Page, Page>(Key, _page, static (page, _, _) => new ValueTask<Page>(page), Options);
        return task.IsCompletedSuccessfully ? task.Result : throw new InvalidOperationException("Not a synchronous hit.");
    }

    private T? Generic<T>()
        where T : class =>
        _memory.TryGetValue(Key, out var found) && found is CacheEntry<T> entry && entry.Error is null && DateTime.UtcNow.Ticks < entry.Times.FreshUntil ? entry.Value : null;
}
