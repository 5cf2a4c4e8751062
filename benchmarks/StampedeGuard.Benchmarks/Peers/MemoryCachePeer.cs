using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.Benchmarks.Peers;

/// <summary>
/// The baseline: what users write with <see cref="IMemoryCache"/> alone. Hit = <c>TryGetValue</c>; miss =
/// <c>TryGetValue</c> then <c>Set</c>; cold key = the double-checked per-key <see cref="SemaphoreSlim"/> people write
/// by hand to run the factory once (hands the lock from waiter to waiter).
/// </summary>
public sealed class MemoryCachePeer(Page value) : CachePeer(value)
{
    private static readonly MemoryCacheEntryOptions EntryOptions = new() { AbsoluteExpirationRelativeToNow = Lifetime };
    private readonly MemoryCache _cache = new(new MemoryCacheOptions());
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    /// <inheritdoc />
    protected override int Index => 0;

    /// <inheritdoc />
    public override Page Hit(string key) => _cache.TryGetValue(key, out Page? page) ? page! : throw new InvalidOperationException("Not cached.");

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateAsync(string key)
    {
        if (_cache.TryGetValue(key, out Page? page))
        {
            return new ValueTask<Page>(page!);
        }

        return new ValueTask<Page>(_cache.Set(key, Value, EntryOptions));
    }

    /// <inheritdoc />
    public override async ValueTask<Page> GetOrCreateYieldingAsync(string key)
    {
        if (_cache.TryGetValue(key, out Page? page))
        {
            return page!;
        }

        await Task.Yield();
        return _cache.Set(key, Value, EntryOptions);
    }

    /// <inheritdoc />
    public override async ValueTask<Page> GetOrCreateGatedAsync(string key, Gate gate)
    {
        if (_cache.TryGetValue(key, out Page? page))
        {
            return page!;
        }

        var semaphore = _locks.GetOrAdd(key, static _ => new SemaphoreSlim(1, 1));
        await semaphore.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_cache.TryGetValue(key, out page))
            {
                return page!;
            }

            return _cache.Set(key, await gate.RenderAsync().ConfigureAwait(false), EntryOptions);
        }
        finally
        {
            semaphore.Release();
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        _cache.Dispose();
        foreach (var semaphore in _locks.Values)
        {
            semaphore.Dispose();
        }
    }
}
