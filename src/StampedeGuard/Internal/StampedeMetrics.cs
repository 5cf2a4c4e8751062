using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Numerics;
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
    private readonly StripedCount _hits = new();
    private long _stale;
    private long _misses;
    private long _collapsed;

    public StampedeMetrics(IMeterFactory? meterFactory)
    {
        Meter = meterFactory?.Create(Name) ?? new Meter(Name);
        _ownsMeter = meterFactory is null;
        Requests = Meter.CreateObservableCounter("stampedeguard.cache.requests", ObserveRequests, "{request}", "Cache requests by result: hit, stale, miss (ran or led a factory), collapsed (waited for another caller's run).");
        FactoryRuns = Meter.CreateCounter<long>("stampedeguard.factory.runs", "{run}", "Factory runs.");
        FactoryErrors = Meter.CreateCounter<long>("stampedeguard.factory.errors", "{error}", "Factory runs that threw or timed out.");
        EarlyRefreshes = Meter.CreateCounter<long>("stampedeguard.early_refreshes", "{refresh}", "Refreshes started before expiry by a fresh hit.");
        BackgroundRefreshes = Meter.CreateCounter<long>("stampedeguard.background_refreshes", "{refresh}", "Refreshes started by a stale hit.");
        FailSafeActivations = Meter.CreateCounter<long>("stampedeguard.fail_safe.activations", "{activation}", "Times a stale value was served because the factory failed.");
        DistributedErrors = Meter.CreateCounter<long>("stampedeguard.distributed.errors", "{error}", "Distributed tier operations that failed (logged, ignored).");
        LockTimeouts = Meter.CreateCounter<long>("stampedeguard.lock_timeouts", "{timeout}", "Waits that gave up on another caller's run after LockTimeout.");
        FactoryDuration = DurationBuckets.CreateHistogram(Meter, "stampedeguard.factory.duration", "Factory run time.");
        WaitDuration = DurationBuckets.CreateHistogram(Meter, "stampedeguard.wait.duration", "Time callers waited for a value (misses and collapsed waiters).");
    }

    public Meter Meter { get; }

    /// <summary>
    /// Requests by result, counted while someone listens and read when the listener collects: an observable counter,
    /// so a hit adds one to its own core's slot (<see cref="StripedCount"/>) instead of calling into the listener with
    /// a write to one shared aggregate per hit (a contended cache line on every core at once).
    /// </summary>
    public ObservableCounter<long> Requests { get; }

    public Counter<long> FactoryRuns { get; }

    public Counter<long> FactoryErrors { get; }

    public Counter<long> EarlyRefreshes { get; }

    public Counter<long> BackgroundRefreshes { get; }

    public Counter<long> FailSafeActivations { get; }

    public Counter<long> DistributedErrors { get; }

    public Counter<long> LockTimeouts { get; }

    public Histogram<double> FactoryDuration { get; }

    public Histogram<double> WaitDuration { get; }

    public void Hit()
    {
        if (Requests.Enabled)
        {
            _hits.Increment();
        }
    }

    public void Stale() => Count(ref _stale);

    public void Miss() => Count(ref _misses);

    public void Collapsed() => Count(ref _collapsed);

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

    /// <summary>Counts a request that is not a fresh hit while someone listens (they are rarer: one shared count each).</summary>
    private void Count(ref long count)
    {
        if (Requests.Enabled)
        {
            Interlocked.Increment(ref count);
        }
    }

    /// <summary>The totals so far, one measurement per result that has occurred (a result never seen reports nothing).</summary>
    private IEnumerable<Measurement<long>> ObserveRequests()
    {
        var measurements = new List<Measurement<long>>(4);
        Add(_hits.Sum(), HitTag);
        Add(Volatile.Read(ref _stale), StaleTag);
        Add(Volatile.Read(ref _misses), MissTag);
        Add(Volatile.Read(ref _collapsed), CollapsedTag);
        return measurements;

        void Add(long value, KeyValuePair<string, object?> result)
        {
            if (value != 0)
            {
                measurements.Add(new Measurement<long>(value, result));
            }
        }
    }

    /// <summary>
    /// A count split over one slot per core, each on a cache line of its own: an increment touches only the slot of
    /// the core it runs on (atomically, since two threads can take turns on one core), the sum reads them all.
    /// </summary>
    private sealed class StripedCount
    {
        private const int Spacing = 16; // longs: 128 bytes, so no two slots share a cache line (or an adjacent-line prefetch)
        private readonly long[] _slots;
        private readonly int _mask;

        public StripedCount()
        {
            var stripes = (int)BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount);
            _mask = stripes - 1;
            _slots = new long[(stripes + 1) * Spacing]; // slot i at (i + 1) * Spacing: nothing shares the array header's line
        }

        public void Increment() => Interlocked.Increment(ref _slots[((Thread.GetCurrentProcessorId() & _mask) + 1) * Spacing]);

        public long Sum()
        {
            var sum = 0L;
            for (var i = Spacing; i < _slots.Length; i += Spacing)
            {
                sum += Volatile.Read(ref _slots[i]);
            }

            return sum;
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
