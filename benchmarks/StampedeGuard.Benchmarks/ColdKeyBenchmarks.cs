using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// 10,000 concurrent callers on a cold key: all call before the factory completes, then it completes once and every
/// caller gets the value. Reported per caller (OperationsPerInvoke). Baseline: the double-checked lock users write
/// by hand (IMemoryCache plus a per-key SemaphoreSlim), which also runs the factory once but hands the lock from
/// waiter to waiter.
/// </summary>
public class ColdKeyBenchmarks
{
    private const int Callers = 10_000;
    private static readonly StampedeCacheEntryOptions Options = new() { Duration = TimeSpan.FromHours(1) };
    private static readonly StampedeCacheEntryOptions NoLockTimeout = new() { Duration = TimeSpan.FromHours(1), LockTimeout = Timeout.InfiniteTimeSpan };

    private readonly ValueTask<Page>[] _waits = new ValueTask<Page>[Callers];
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new();
    private StampedeCache _cache = null!;
    private MemoryCache _memory = null!;
    private int _round;

    [GlobalSetup]
    public void Setup()
    {
        _cache = new StampedeCache();
        _memory = new MemoryCache(new MemoryCacheOptions());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _memory.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers, Description = "double-checked SemaphoreSlim + IMemoryCache, per caller")]
    public async Task DoubleCheckedLocking()
    {
        var key = "cold:" + ++_round;
        var origin = new Origin();
        for (var i = 0; i < Callers; i++)
        {
#pragma warning disable CA2012 // each ValueTask is awaited exactly once, by CompleteAsync
            _waits[i] = DoubleCheckedAsync(key, origin);
#pragma warning restore CA2012
        }

        await origin.CompleteAsync(_waits);
        _memory.Remove(key);
        _locks.TryRemove(key, out _);
    }

    [Benchmark(OperationsPerInvoke = Callers, Description = "StampedeCache.GetOrCreateAsync, per caller")]
    public Task StampedeGuard() => Run(Options);

    [Benchmark(OperationsPerInvoke = Callers, Description = "StampedeCache.GetOrCreateAsync, LockTimeout off, per caller")]
    public Task StampedeGuardNoLockTimeout() => Run(NoLockTimeout);

    private async Task Run(StampedeCacheEntryOptions options)
    {
        var key = "cold:" + ++_round;
        var origin = new Origin();
        for (var i = 0; i < Callers; i++)
        {
#pragma warning disable CA2012 // each ValueTask is awaited exactly once, by CompleteAsync
            _waits[i] = _cache.GetOrCreateAsync<Origin, Page>(key, origin, static (o, _, _) => o.RenderAsync(), options);
#pragma warning restore CA2012
        }

        await origin.CompleteAsync(_waits);
        await _cache.RemoveAsync(key);
    }

    private async ValueTask<Page> DoubleCheckedAsync(string key, Origin origin)
    {
        if (_memory.TryGetValue(key, out Page? page) && page is not null)
        {
            return page;
        }

        var gate = _locks.GetOrAdd(key, static _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync();
        try
        {
            if (_memory.TryGetValue(key, out page) && page is not null)
            {
                return page;
            }

            page = await origin.RenderAsync();
            _memory.Set(key, page, TimeSpan.FromHours(1));
            return page;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>A factory that waits until every caller has arrived, and counts its runs.</summary>
    private sealed class Origin
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Page _page = new("<html>cold</html>");
        private int _runs;

        public async ValueTask<Page> RenderAsync()
        {
            Interlocked.Increment(ref _runs);
            await _release.Task.ConfigureAwait(false);
            return _page;
        }

        public async Task CompleteAsync(ValueTask<Page>[] waits)
        {
            _release.SetResult();
            foreach (var wait in waits)
            {
                _ = await wait;
            }

            if (_runs != 1)
            {
                throw new InvalidOperationException($"{_runs} factory runs for one cold key.");
            }
        }
    }
}
