using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// What early refresh adds to a fresh hit. Four caches have their own manual clock holding the entry at a chosen
/// distance from expiry (Duration 1 h, measured factory time 100 ms). Far from expiry a hit is the synchronous
/// hot-slot path: no clock read of ours, no random number, no logarithm. Past the refresh point a hit takes the slow
/// path, then classic XFetch draws a random number and takes a logarithm on every hit (beta 1, 3 s left: it almost
/// never fires), while adaptive mode with its one refresh already under way only sees the claim flag. With a manual
/// clock the engine keeps L1 slots longer than their lifetime, so those hits still find the hot slot; the fifth cache
/// runs on the real clock (XFetch, beta 100, so the whole 5-minute life of the entry is past the refresh point) and
/// shows the slow path production takes, second L1 lookup included.
/// </summary>
public class EarlyRefreshBenchmarks
{
    private const string Key = "landing-page";
    private static readonly StampedeCacheEntryOptions XFetch = new() { Duration = TimeSpan.FromHours(1), EarlyRefresh = StampedeEarlyRefresh.XFetch, EarlyRefreshBeta = 1 };
    private static readonly StampedeCacheEntryOptions Adaptive = new() { Duration = TimeSpan.FromHours(1) };

    // Real clock: a 100 ms factory and beta 100 put the whole 5-minute life of the entry past its refresh point
    // (37 x 100 ms x 100 = 370 s), while a draw fires with probability e^-30 or less, so it never does.
    private static readonly StampedeCacheEntryOptions XFetchWide = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefresh = StampedeEarlyRefresh.XFetch, EarlyRefreshBeta = 100 };

    private readonly Factory _factory = new();
    private StampedeCache _xfetchFar = null!;
    private StampedeCache _xfetchNear = null!;
    private StampedeCache _adaptiveFar = null!;
    private StampedeCache _adaptiveNear = null!;
    private StampedeCache _xfetchRealClock = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        _xfetchRealClock = new StampedeCache();
        _ = await _xfetchRealClock.GetOrCreateAsync<Factory, Page>(Key, _factory, static async (f, _, ct) =>
        {
            await Task.Delay(100, ct);
            return f.Page;
        }, XFetchWide);

        _xfetchFar = Create(XFetch, TimeSpan.Zero);
        _xfetchNear = Create(XFetch, TimeSpan.FromHours(1) - TimeSpan.FromSeconds(3)); // 3 s left; XFetch checks from 3.7 s before expiry
        _adaptiveFar = Create(Adaptive, TimeSpan.Zero);
        _adaptiveNear = Create(Adaptive, TimeSpan.FromHours(1) - TimeSpan.FromMilliseconds(50)); // inside the adaptive lead (1.25 x 100 ms + 5 ms)
        _ = Hit(_adaptiveNear, Adaptive); // starts the one refresh, which never completes: the steady state while it runs
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _factory.Release();
        _xfetchFar.Dispose();
        _xfetchNear.Dispose();
        _adaptiveFar.Dispose();
        _adaptiveNear.Dispose();
        _xfetchRealClock.Dispose();
    }

    [Benchmark(Baseline = true, Description = "XFetch beta=1, far from expiry")]
    public Page XFetchFar() => Hit(_xfetchFar, XFetch);

    [Benchmark(Description = "XFetch beta=1, 3 s before expiry (random + log per hit)")]
    public Page XFetchNear() => Hit(_xfetchNear, XFetch);

    [Benchmark(Description = "Adaptive, far from expiry")]
    public Page AdaptiveFar() => Hit(_adaptiveFar, Adaptive);

    [Benchmark(Description = "Adaptive, inside the lead, refresh running")]
    public Page AdaptiveNear() => Hit(_adaptiveNear, Adaptive);

    [Benchmark(Description = "XFetch, real clock, past the refresh point (production slow path)")]
    public Page XFetchRealClock()
    {
        var task = _xfetchRealClock.GetOrCreateAsync<Factory, Page>(Key, _factory, static (f, _, _) => f.RenderAsync(null), XFetchWide);
        return task.IsCompletedSuccessfully ? task.Result : throw new InvalidOperationException("Not a synchronous hit.");
    }

    private StampedeCache Create(StampedeCacheEntryOptions options, TimeSpan age)
    {
        var clock = new ManualClock();
        var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }, new MemoryCache(new MemoryCacheOptions { Clock = clock }));
        var first = cache.GetOrCreateAsync<(Factory Factory, ManualClock? Clock), Page>(Key, (Factory: _factory, Clock: (ManualClock?)clock), static (s, _, _) => s.Factory.RenderAsync(s.Clock), options);
        first.AsTask().GetAwaiter().GetResult(); // a miss runs its factory on the thread pool; the manual clock does not move meanwhile

        clock.Advance(age);
        return cache;
    }

    private Page Hit(StampedeCache cache, StampedeCacheEntryOptions options)
    {
        var task = cache.GetOrCreateAsync<(Factory Factory, ManualClock? Clock), Page>(Key, (Factory: _factory, Clock: (ManualClock?)null), static (s, _, _) => s.Factory.RenderAsync(s.Clock), options);
        return task.IsCompletedSuccessfully ? task.Result : throw new InvalidOperationException("Not a synchronous hit.");
    }

    /// <summary>First run: takes 100 ms of manual time. Later runs (refreshes): never complete until cleanup.</summary>
    private sealed class Factory
    {
        private readonly TaskCompletionSource<Page> _never = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Page _page = new("<html>early</html>");

        public Page Page => _page;

        public ValueTask<Page> RenderAsync(ManualClock? clock)
        {
            if (clock is null)
            {
                return new ValueTask<Page>(_never.Task);
            }

            clock.Advance(TimeSpan.FromMilliseconds(100));
            return new ValueTask<Page>(_page);
        }

        public void Release() => _never.TrySetResult(_page);
    }
}
