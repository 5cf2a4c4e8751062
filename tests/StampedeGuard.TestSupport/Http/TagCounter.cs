using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace StampedeGuard.TestSupport.Http;

/// <summary>
/// Listens to one counter instrument of the meters one <see cref="IMeterFactory"/> created (so parallel tests do not see
/// each other) and counts its measurements by the value of each tag. An observable counter is collected when read
/// (its measurements are running totals: the latest per tag value counts).
/// </summary>
public sealed class TagCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counts = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();

    public TagCounter(IMeterFactory scope, string instrumentName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, scope) && instrument.Name == instrumentName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                var key = tag.Value?.ToString() ?? string.Empty;
                if (instrument.IsObservable)
                {
                    _totals[key] = value;
                }
                else
                {
                    _counts.AddOrUpdate(key, value, (_, n) => n + value);
                }
            }
        });
        _listener.Start();
    }

    /// <summary>The sum of the measurements that carried a tag with this value.</summary>
    public long this[string tagValue]
    {
        get
        {
            _listener.RecordObservableInstruments();
            return _totals.TryGetValue(tagValue, out var total) ? total : _counts.TryGetValue(tagValue, out var n) ? n : 0;
        }
    }

    public void Dispose() => _listener.Dispose();
}
