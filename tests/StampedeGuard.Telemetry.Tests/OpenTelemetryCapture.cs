using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace StampedeGuard.Telemetry.Tests;

/// <summary>
/// The OpenTelemetry SDK wired the way a user would (<c>AddMeter</c>, <c>AddSource</c>, in-memory exporters) for one
/// StampedeGuard meter and activity source name.
/// </summary>
public sealed class OpenTelemetryCapture : IDisposable
{
    /// <summary>The bucket upper bounds docs/telemetry.md promises for every duration histogram (seconds).</summary>
    public static readonly double[] DocumentedBuckets =
    [
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, double.PositiveInfinity,
    ];

    private readonly List<MetricSnapshot> _metrics = [];
    private readonly List<Activity> _spans = [];
    private readonly MeterProvider _meterProvider;
    private readonly TracerProvider _tracerProvider;

    public OpenTelemetryCapture(string name)
    {
        _meterProvider = Sdk.CreateMeterProviderBuilder().AddMeter(name).AddInMemoryExporter(_metrics).Build()!;
        _tracerProvider = Sdk.CreateTracerProviderBuilder().AddSource(name).SetSampler(new AlwaysOnSampler()).AddInMemoryExporter(_spans).Build()!;
    }

    /// <summary>The spans exported so far (a copy).</summary>
    public IReadOnlyList<Activity> Spans
    {
        get
        {
            lock (_spans)
            {
                return [.. _spans];
            }
        }
    }

    /// <summary>Collects now and returns the exported metrics by instrument name (cumulative, this collection only).</summary>
    public IReadOnlyDictionary<string, MetricSnapshot> CollectMetrics()
    {
        _metrics.Clear();
        _meterProvider.ForceFlush().Should().BeTrue();
        return _metrics.ToDictionary(m => m.Name);
    }

    public void Dispose()
    {
        _meterProvider.Dispose();
        _tracerProvider.Dispose();
    }
}
