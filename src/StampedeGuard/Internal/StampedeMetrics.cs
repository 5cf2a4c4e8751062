using System.Diagnostics;
using System.Diagnostics.Metrics;
using StampedeGuard.Shared;

namespace StampedeGuard.Internal;

/// <summary>
/// The instruments of the <c>StampedeGuard</c> meter and activity source. Tags never carry the key. A named cache
/// (<see cref="StampedeCacheOptions.CacheName"/>) adds <see cref="CacheNameTag"/> to every measurement; the unnamed
/// cache records exactly the tags it always did.
/// </summary>
internal sealed class StampedeMetrics : IDisposable
{
    public const string Name = "StampedeGuard";
    public const string ResultTag = "stampedeguard.result";
    public const string CacheNameTag = "stampedeguard.cache.name";

    public static readonly ActivitySource ActivitySource = new(Name);

    private static readonly KeyValuePair<string, object?> HitTag = new(ResultTag, "hit");
    private static readonly KeyValuePair<string, object?> StaleTag = new(ResultTag, "stale");
    private static readonly KeyValuePair<string, object?> MissTag = new(ResultTag, "miss");
    private static readonly KeyValuePair<string, object?> CollapsedTag = new(ResultTag, "collapsed");

    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _cacheName;
    private readonly bool _named;

    public StampedeMetrics(IMeterFactory? meterFactory, string? cacheName = null)
    {
        Meter = meterFactory?.Create(Name) ?? new Meter(Name);
        _ownsMeter = meterFactory is null;
        _named = cacheName is not null;
        _cacheName = new(CacheNameTag, cacheName);
        Requests = Meter.CreateCounter<long>("stampedeguard.cache.requests", "{request}", "Cache requests by result: hit, stale, miss (ran or led a factory), collapsed (waited for another caller's run).");
        FactoryRuns = Meter.CreateCounter<long>("stampedeguard.factory.runs", "{run}", "Factory runs.");
        FactoryErrors = new TaggedCounter(Meter.CreateCounter<long>("stampedeguard.factory.errors", "{error}", "Factory runs that threw or timed out."), cacheName);
        EarlyRefreshes = new TaggedCounter(Meter.CreateCounter<long>("stampedeguard.early_refreshes", "{refresh}", "Refreshes started before expiry by a fresh hit."), cacheName);
        BackgroundRefreshes = new TaggedCounter(Meter.CreateCounter<long>("stampedeguard.background_refreshes", "{refresh}", "Refreshes started by a stale hit."), cacheName);
        FailSafeActivations = new TaggedCounter(Meter.CreateCounter<long>("stampedeguard.fail_safe.activations", "{activation}", "Times a stale value was served because the factory failed."), cacheName);
        DistributedErrors = new TaggedCounter(Meter.CreateCounter<long>("stampedeguard.distributed.errors", "{error}", "Distributed tier operations that failed (logged, ignored)."), cacheName);
        LockTimeouts = new TaggedCounter(Meter.CreateCounter<long>("stampedeguard.lock_timeouts", "{timeout}", "Waits that gave up on another caller's run after LockTimeout."), cacheName);
        RefusedWrites = new TaggedCounter(Meter.CreateCounter<long>("stampedeguard.distributed.refused_writes", "{write}", "Run values the distributed tier refused to store, by reason: superseded (an invalidation or newer write came after the run's read) or lease_lost (a late write after the lease ran out)."), cacheName);
        LocalResets = new TaggedCounter(Meter.CreateCounter<long>("stampedeguard.local.resets", "{reset}", "Times the local tier was dropped because the backplane may have lost messages or the distributed tier lost or rolled back its data."), cacheName);
        FactoryDuration = new TaggedHistogram(DurationBuckets.CreateHistogram(Meter, "stampedeguard.factory.duration", "Factory run time."), cacheName);
        WaitDuration = new TaggedHistogram(DurationBuckets.CreateHistogram(Meter, "stampedeguard.wait.duration", "Time callers waited for a value (misses and collapsed waiters)."), cacheName);
    }

    public Meter Meter { get; }

    public Counter<long> Requests { get; }

    public Counter<long> FactoryRuns { get; }

    public TaggedCounter FactoryErrors { get; }

    public TaggedCounter EarlyRefreshes { get; }

    public TaggedCounter BackgroundRefreshes { get; }

    public TaggedCounter FailSafeActivations { get; }

    public TaggedCounter DistributedErrors { get; }

    public TaggedCounter LockTimeouts { get; }

    public TaggedCounter RefusedWrites { get; }

    /// <summary>Counts a run value the distributed tier refused to store (<paramref name="reason"/>: superseded or lease_lost).</summary>
    public void RefusedWrite(string reason) => RefusedWrites.Add(1, new KeyValuePair<string, object?>("stampedeguard.reason", reason));

    public TaggedCounter LocalResets { get; }

    public TaggedHistogram FactoryDuration { get; }

    public TaggedHistogram WaitDuration { get; }

    public void Hit() => Request(HitTag);

    public void Stale() => Request(StaleTag);

    public void Miss() => Request(MissTag);

    public void Collapsed() => Request(CollapsedTag);

    public void FactoryRun()
    {
        if (FactoryRuns.Enabled)
        {
            if (_named)
            {
                FactoryRuns.Add(1, _cacheName);
            }
            else
            {
                FactoryRuns.Add(1);
            }
        }
    }

    /// <summary>Records a factory run's duration (given in ticks) while someone listens.</summary>
    public void RecordFactoryDuration(long ticks)
    {
        if (FactoryDuration.Enabled)
        {
            FactoryDuration.Record((double)ticks / TimeSpan.TicksPerSecond);
        }
    }

    /// <summary>Counts a request while someone listens (a hit must write no shared counter otherwise).</summary>
    private void Request(KeyValuePair<string, object?> result)
    {
        if (Requests.Enabled)
        {
            if (_named)
            {
                Requests.Add(1, result, _cacheName);
            }
            else
            {
                Requests.Add(1, result);
            }
        }
    }

    /// <summary>Tags an activity with the cache's name, for a named cache.</summary>
    public void Tag(Activity? activity)
    {
        if (_named)
        {
            activity?.SetTag(CacheNameTag, _cacheName.Value);
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }
}

/// <summary>A counter that adds the cache's name to each measurement of a named cache (no allocation either way).</summary>
internal readonly struct TaggedCounter(Counter<long> counter, string? cacheName)
{
    public bool Enabled => counter.Enabled;

    public void Add(long delta)
    {
        if (cacheName is null)
        {
            counter.Add(delta);
        }
        else
        {
            counter.Add(delta, new KeyValuePair<string, object?>(StampedeMetrics.CacheNameTag, cacheName));
        }
    }

    public void Add(long delta, KeyValuePair<string, object?> tag)
    {
        if (cacheName is null)
        {
            counter.Add(delta, tag);
        }
        else
        {
            counter.Add(delta, tag, new KeyValuePair<string, object?>(StampedeMetrics.CacheNameTag, cacheName));
        }
    }
}

/// <summary>A histogram that adds the cache's name to each measurement of a named cache (no allocation either way).</summary>
internal readonly struct TaggedHistogram(Histogram<double> histogram, string? cacheName)
{
    public bool Enabled => histogram.Enabled;

    public void Record(double value)
    {
        if (cacheName is null)
        {
            histogram.Record(value);
        }
        else
        {
            histogram.Record(value, new KeyValuePair<string, object?>(StampedeMetrics.CacheNameTag, cacheName));
        }
    }
}
