using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Hybrid;

namespace StampedeGuard.Hybrid;

/// <summary>
/// Microsoft's <see cref="HybridCache"/> API on the StampedeGuard engine: code written against HybridCache gets
/// single-flight, early refresh, stale serving, fail-safe and the Redis barrier. <c>Expiration</c> maps to Duration,
/// <c>LocalCacheExpiration</c> to LocalDuration, the distributed-cache flags to SkipDistributedCache, and
/// <c>DisableUnderlyingData</c> reads without running the factory.
/// </summary>
internal sealed class StampedeHybridCache : HybridCache
{
    private readonly StampedeCache _cache;
    private readonly ConditionalWeakTable<HybridCacheEntryOptions, StampedeCacheEntryOptions> _mapped = [];
    private readonly ConditionalWeakTable<HybridCacheEntryOptions, StampedeCacheEntryOptions>.CreateValueCallback _convert;

    public StampedeHybridCache(StampedeCache cache)
    {
        _cache = cache;
        _convert = options => Convert(options, null);
    }

    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        if (options?.Flags is { } flags && (flags & HybridCacheEntryFlags.DisableUnderlyingData) != 0)
        {
            return ReadOnlyAsync<T>(key, cancellationToken);
        }

        return _cache.GetOrCreateAsync<(TState state, Func<TState, CancellationToken, ValueTask<T>> factory), T>(key, (state, factory), static (s, _, ct) => s.factory(s.state, ct), Map(options, tags), cancellationToken);
    }

    public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        _cache.SetAsync(key, value, Map(options, tags), cancellationToken);

    public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => _cache.RemoveAsync(key, cancellationToken);

    public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) => _cache.RemoveByTagAsync(tag, cancellationToken);

    private async ValueTask<T> ReadOnlyAsync<T>(string key, CancellationToken cancellationToken)
    {
        var lookup = await _cache.TryGetAsync<T>(key, cancellationToken).ConfigureAwait(false);
        return lookup.HasValue && !lookup.IsStale ? lookup.Value! : default!;
    }

    private StampedeCacheEntryOptions? Map(HybridCacheEntryOptions? options, IEnumerable<string>? tags)
    {
        if (tags is null)
        {
            return options is null ? null : _mapped.GetValue(options, _convert);
        }

        return Convert(options, tags);
    }

    private StampedeCacheEntryOptions Convert(HybridCacheEntryOptions? options, IEnumerable<string>? tags)
    {
        var mapped = _cache.Options.DefaultEntryOptions.Clone();
        if (options?.Expiration is { } expiration)
        {
            mapped.Duration = expiration;
        }

        if (options?.LocalCacheExpiration is { } local)
        {
            mapped.LocalDuration = local;
        }

        if (options?.Flags is { } flags && (flags & (HybridCacheEntryFlags.DisableDistributedCacheRead | HybridCacheEntryFlags.DisableDistributedCacheWrite)) != 0)
        {
            mapped.SkipDistributedCache = true;
        }

        if (tags is not null)
        {
            mapped.Tags = [.. tags];
        }

        return mapped;
    }
}
