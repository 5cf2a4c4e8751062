using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace StampedeGuard.TestSupport.Http;

/// <summary>
/// Listens to one counter instrument of the meters one <see cref="IMeterFactory"/> created (so parallel tests do not see
/// each other) and counts its measurements by the value of each tag.
/// </summary>
public sealed class TagCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counts = new();

    public TagCounter(IMeterFactory scope, string instrumentName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, scope) && instrument.Name == instrumentName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                _counts.AddOrUpdate(tag.Value?.ToString() ?? string.Empty, value, (_, n) => n + value);
            }
        });
        _listener.Start();
    }

    /// <summary>The sum of the measurements that carried a tag with this value.</summary>
    public long this[string tagValue] => _counts.TryGetValue(tagValue, out var n) ? n : 0;

    public void Dispose() => _listener.Dispose();
}
