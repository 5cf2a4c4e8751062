using System.Diagnostics;
using System.Diagnostics.Metrics;
using StampedeGuard.Shared;

namespace StampedeGuard.Internal;

/// <summary>The instruments of the <c>StampedeGuard</c> meter and activity source. Tags never carry the key.</summary>
internal sealed class StampedeMetrics : IDisposable
{
    public const string Name = "StampedeGuard";
    public const string ResultTag = "stampedeguard.result";

    public static readonly ActivitySource ActivitySource = new(Name);

    private static readonly KeyValuePair<string, object?> HitTag = new(ResultTag, "hit");
    private static readonly KeyValuePair<string, object?> StaleTag = new(ResultTag, "stale");
    private static readonly KeyValuePair<string, object?> MissTag = new(ResultTag, "miss");
    private static readonly KeyValuePair<string, object?> CollapsedTag = new(ResultTag, "collapsed");

    private readonly bool _ownsMeter;

    public StampedeMetrics(IMeterFactory? meterFactory)
    {
        Meter = meterFactory?.Create(Name) ?? new Meter(Name);
        _ownsMeter = meterFactory is null;
        Requests = Meter.CreateCounter<long>("stampedeguard.cache.requests", "{request}", "Cache requests by result: hit, stale, miss (ran or led a factory), collapsed (waited for another caller's run).");
        FactoryRuns = Meter.CreateCounter<long>("stampedeguard.factory.runs", "{run}", "Factory runs.");
        FactoryErrors = Meter.CreateCounter<long>("stampedeguard.factory.errors", "{error}", "Factory runs that threw or timed out.");
        EarlyRefreshes = Meter.CreateCounter<long>("stampedeguard.early_refreshes", "{refresh}", "Refreshes started before expiry by a fresh hit.");
        BackgroundRefreshes = Meter.CreateCounter<long>("stampedeguard.background_refreshes", "{refresh}", "Refreshes started by a stale hit.");
        FailSafeActivations = Meter.CreateCounter<long>("stampedeguard.fail_safe.activations", "{activation}", "Times a stale value was served because the factory failed.");
        DistributedErrors = Meter.CreateCounter<long>("stampedeguard.distributed.errors", "{error}", "Distributed tier operations that failed (logged, ignored).");
        LockTimeouts = Meter.CreateCounter<long>("stampedeguard.lock_timeouts", "{timeout}", "Waits that gave up on another caller's run after LockTimeout.");
        RefusedWrites = Meter.CreateCounter<long>("stampedeguard.distributed.refused_writes", "{write}", "Run values the distributed tier refused to store, by reason: superseded (an invalidation or newer write came after the run's read) or lease_lost (a late write after the lease ran out).");
        LocalResets = Meter.CreateCounter<long>("stampedeguard.local.resets", "{reset}", "Times the local tier was dropped because the backplane may have lost messages or the distributed tier lost or rolled back its data.");
        FactoryDuration = DurationBuckets.CreateHistogram(Meter, "stampedeguard.factory.duration", "Factory run time.");
        WaitDuration = DurationBuckets.CreateHistogram(Meter, "stampedeguard.wait.duration", "Time callers waited for a value (misses and collapsed waiters).");
    }

    public Meter Meter { get; }

    public Counter<long> Requests { get; }

    public Counter<long> FactoryRuns { get; }

    public Counter<long> FactoryErrors { get; }

    public Counter<long> EarlyRefreshes { get; }

    public Counter<long> BackgroundRefreshes { get; }

    public Counter<long> FailSafeActivations { get; }

    public Counter<long> DistributedErrors { get; }

    public Counter<long> LockTimeouts { get; }

    public Counter<long> RefusedWrites { get; }

    public Counter<long> LocalResets { get; }

    public Histogram<double> FactoryDuration { get; }

    public Histogram<double> WaitDuration { get; }

    public void Hit() => Request(HitTag);

    public void Stale() => Request(StaleTag);

    public void Miss() => Request(MissTag);

    public void Collapsed() => Request(CollapsedTag);

    public void FactoryRun()
    {
        if (FactoryRuns.Enabled)
        {
            FactoryRuns.Add(1);
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
            Requests.Add(1, result);
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
