using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using StampedeGuard.Distributed;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests.Infrastructure;

/// <summary>One cache on a fake clock, with its own meter listener and fake logger. Dispose at the end of a test.</summary>
internal sealed class CacheHarness : IDisposable
{
    private readonly FakeLoggerProvider _logProvider = new();
    private readonly ILoggerFactory _loggerFactory;

    public CacheHarness(
        Action<StampedeCacheEntryOptions>? entry = null,
        FakeTimeProvider? clock = null,
        IDistributedCache? l2 = null,
        Action<StampedeCacheOptions>? configure = null,
        IStampedeDistributedStore? store = null)
    {
        Clock = clock ?? new FakeTimeProvider();
        var entryOptions = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(10) };
        entry?.Invoke(entryOptions);
        var options = new StampedeCacheOptions { TimeProvider = Clock, DefaultEntryOptions = entryOptions };
        configure?.Invoke(options);
        L2 = l2;
        _loggerFactory = new LoggerFactory([_logProvider]);
        Cache = new StampedeCache(
            options,
            memoryCache: null,
            distributedStore: store ?? (l2 is null ? null : new DistributedCacheStore(l2)),
            backplane: null,
            loggerFactory: _loggerFactory,
            meterFactory: null);
        Metrics = new MetricsRecorder(Cache.Meter);
    }

    public FakeTimeProvider Clock { get; }

    public StampedeCache Cache { get; }

    public IDistributedCache? L2 { get; }

    public MetricsRecorder Metrics { get; }

    public FakeLogCollector Logs => _logProvider.Collector;

    public StampedeCacheEntryOptions Defaults => Cache.Options.DefaultEntryOptions;

    public static MemoryDistributedCache NewL2() => new(Options.Create(new MemoryDistributedCacheOptions()));

    public IReadOnlyList<FakeLogRecord> LogsWithEventId(int id) => Logs.GetSnapshot().Where(r => r.Id.Id == id).ToList();

    public void Dispose()
    {
        Metrics.Dispose();
        Cache.Dispose();
        _loggerFactory.Dispose();
    }
}
