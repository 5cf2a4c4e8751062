using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.Stampede.Strategies;

/// <summary>
/// DiskCache's barrier: look up optimistically, on a miss take a per-key lock, look again, render if still missing.
/// One render per expiry, but every caller that arrives during it waits for it.
/// </summary>
internal sealed class DoubleCheckedLockingStrategy(Origin origin, TimeSpan ttl) : Strategy(origin, ttl)
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions());
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new();

    public override async ValueTask<LandingPage> GetAsync(CancellationToken cancellationToken)
    {
        if (_cache.TryGetValue(Scenario.Key, out LandingPage? page) && page is not null)
        {
            return page;
        }

        var gate = _locks.GetOrAdd(Scenario.Key, static _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (_cache.TryGetValue(Scenario.Key, out page) && page is not null)
            {
                return page;
            }

            page = await Origin.RenderAsync(cancellationToken);
            _cache.Set(Scenario.Key, page, Ttl);
            return page;
        }
        finally
        {
            gate.Release();
        }
    }

    public override ValueTask DisposeAsync()
    {
        _cache.Dispose();
        foreach (var gate in _locks.Values)
        {
            gate.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
