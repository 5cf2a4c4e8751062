using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StampedeGuard.AspNetCore.Caching;
using StampedeGuard.Shared;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>What the middleware and its origin executions share: options, the engine, keys, the in-flight registry.</summary>
internal sealed class ResponseCacheRuntime(
    RequestDelegate next,
    ResponseCacheEngine engine,
    StampedeResponseCachingOptions options,
    ILogger logger,
    ResponseCachingMetrics metrics,
    IServiceScopeFactory scopes,
    FlightRegistry registry)
{
    public RequestDelegate Next { get; } = next;

    public IStampedeCache Cache { get; } = engine.Cache;

    public StampedeResponseCachingOptions Options { get; } = options;

    /// <summary>
    /// Gets the engine options of an execution's double check at the engine's barrier: another instance's execution is
    /// waited for at most half the waiter timeout (30 s without one), then this one goes to the origin itself.
    /// </summary>
    public StampedeCacheEntryOptions BarrierOptions { get; } = new()
    {
        LockTimeout = options.WaiterTimeout == Timeout.InfiniteTimeSpan ? TimeSpan.FromSeconds(30) : options.WaiterTimeout / 2,
    };

    public CacheKeyBuilder Keys { get; } = new(options);

    public ILogger Logger { get; } = logger;

    public ResponseCachingMetrics Metrics { get; } = metrics;

    public IServiceScopeFactory Scopes { get; } = scopes;

    public TimeProvider Time { get; } = engine.Time;

    /// <summary>Gets the in-flight origin executions of this process, by flight key.</summary>
    public FlightTable<ResponseFlight> Flights => Registry.Flights;

    public FlightRegistry Registry { get; } = registry;

    public void Remove(ResponseFlight flight) => Registry.Remove(flight);

    /// <summary>Engine options for a stored response: fresh for its remaining freshness, kept for its stale windows and revalidation.</summary>
    public StampedeCacheEntryOptions EntryOptions(CachedResponse entry, IReadOnlyList<string>? tags, StampedeCacheEntryOptions? target = null)
    {
        var options = target ?? new StampedeCacheEntryOptions();
        var ttl = entry.TimeToLive(Time.GetUtcNow());
        options.Duration = ttl > TimeSpan.Zero ? ttl : TimeSpan.FromTicks(1);
        var keep = entry.StaleWhileRevalidate > entry.StaleIfError ? entry.StaleWhileRevalidate : entry.StaleIfError;
        var validator = entry.ETag is not null || entry.LastModified is not null ? Options.ValidatorRetention : TimeSpan.Zero;
        options.StaleWhileRevalidate = TimeSpan.Zero; // HTTP staleness is decided here, never by an engine background refresh
        options.StaleIfError = keep > validator ? keep : validator;
        options.EarlyRefreshBeta = 0;
        options.Tags = tags;
        return options;
    }

    public StampedeCacheEntryOptions MarkerOptions(CachedResponse? entry, IReadOnlyList<string>? tags)
    {
        var keep = TimeSpan.FromHours(1);
        if (entry is not null)
        {
            var total = entry.FreshnessLifetime + Options.ValidatorRetention + entry.StaleWhileRevalidate + entry.StaleIfError;
            keep = total > keep ? total : keep;
        }

        return new StampedeCacheEntryOptions { Duration = keep, EarlyRefreshBeta = 0, Tags = tags };
    }

    public StampedeCacheEntryOptions HitForPassOptions(string urlTag) =>
        new() { Duration = Options.HitForPassDuration, EarlyRefreshBeta = 0, Tags = [urlTag] };
}
