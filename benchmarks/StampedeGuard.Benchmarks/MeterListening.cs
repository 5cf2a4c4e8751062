using System.Diagnostics.Metrics;

namespace StampedeGuard.Benchmarks;

/// <summary><c>--listen</c>: every instrument of every meter enabled, measurements dropped (what a metrics SDK costs a library, minus the SDK's own aggregation).</summary>
public static class MeterListening
{
    /// <summary>Starts a listener that enables every instrument published now or later.</summary>
    public static MeterListener EnableAll()
    {
        var listener = new MeterListener { InstrumentPublished = static (instrument, l) => l.EnableMeasurementEvents(instrument) };
        listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
        listener.SetMeasurementEventCallback<int>(static (_, _, _, _) => { });
        listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
        listener.Start();
        Console.WriteLine("(--listen: every instrument of every meter enabled)");
        return listener;
    }
}
