using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace StampedeGuard.Tests.Infrastructure;

/// <summary>Sums the long counters of one cache instance's meter, by instrument and by <c>stampedeguard.result</c> tag.</summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _sums = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentQueue<double>> _histograms = new(StringComparer.Ordinal);

    public MetricsRecorder(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? result = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "stampedeguard.result")
                {
                    result = tag.Value as string;
                }
            }

            _sums.AddOrUpdate(instrument.Name, value, (_, old) => old + value);
            if (result is not null)
            {
                _sums.AddOrUpdate(instrument.Name + "/" + result, value, (_, old) => old + value);
            }
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
            _histograms.GetOrAdd(instrument.Name, _ => new ConcurrentQueue<double>()).Enqueue(value));
        _listener.Start();
    }

    /// <summary>The sum of a counter, e.g. <c>stampedeguard.factory.runs</c>.</summary>
    public long Counter(string name) => _sums.TryGetValue(name, out var value) ? value : 0;

    /// <summary>Requests with the given result: hit, stale, miss, collapsed.</summary>
    public long Requests(string result) => Counter("stampedeguard.cache.requests/" + result);

    /// <summary>Every value recorded by a histogram, e.g. <c>stampedeguard.factory.duration</c>.</summary>
    public IReadOnlyList<double> Recorded(string name) => _histograms.TryGetValue(name, out var values) ? [.. values] : [];

    public long TotalRequests => Counter("stampedeguard.cache.requests");

    public void Dispose() => _listener.Dispose();
}
