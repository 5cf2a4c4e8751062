using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// <c>--listen</c>: every instrument of every meter enabled through a bare <see cref="MeterListener"/> that drops the
/// measurements (what recording costs a library, without an SDK's aggregation). <c>--otel</c>: the OpenTelemetry SDK
/// with every meter added and an in-memory exporter that is never flushed (what a real metrics pipeline costs,
/// aggregation into shared metric points included).
/// </summary>
public static class MeterListening
{
    /// <summary>Starts a listener that enables every instrument published now or later.</summary>
    public static IDisposable EnableAll()
    {
        var listener = new MeterListener { InstrumentPublished = static (instrument, l) => l.EnableMeasurementEvents(instrument) };
        listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
        listener.SetMeasurementEventCallback<int>(static (_, _, _, _) => { });
        listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
        listener.Start();
        Console.WriteLine("(--listen: every instrument of every meter enabled, measurements dropped)");
        return listener;
    }

    /// <summary>Starts an OpenTelemetry meter provider over every meter.</summary>
    public static IDisposable OpenTelemetryAll()
    {
        var provider = Sdk.CreateMeterProviderBuilder().AddMeter("*").AddInMemoryExporter(new List<Metric>()).Build();
        Console.WriteLine("(--otel: OpenTelemetry SDK 1.20.1 aggregating every meter)");
        return provider;
    }
}
