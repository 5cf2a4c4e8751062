using System.Diagnostics.Metrics;
using StampedeGuard.Shared;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>The meter <c>StampedeGuard.AspNetCore</c>. Tags are low-cardinality (never the URL or key).</summary>
internal sealed class ResponseCachingMetrics : IDisposable
{
    public const string MeterName = "StampedeGuard.AspNetCore";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public ResponseCachingMetrics(IMeterFactory? meterFactory)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        Requests = _meter.CreateCounter<long>("stampedeguard.http.requests", "{request}", "Requests seen by the response cache, by result (hit, stale, miss, collapsed, pass, bypass, method).");
        OriginRequests = _meter.CreateCounter<long>("stampedeguard.http.origin.requests", "{request}", "Origin executions started by the response cache (misses, revalidations, passes).");
        Stored = _meter.CreateCounter<long>("stampedeguard.http.stored", "{response}", "Responses stored.");
        HitForPass = _meter.CreateCounter<long>("stampedeguard.http.hit_for_pass", "{marker}", "Hit-for-pass markers set.");
        StoresRefused = _meter.CreateCounter<long>("stampedeguard.http.stores_refused", "{response}", "Responses (or markers) not stored because a purge of their URL or of one of their tags, on any instance, returned while the origin ran.");
        WaiterWait = DurationBuckets.CreateHistogram(_meter, "stampedeguard.http.waiter.duration", "How long collapsed waiters waited for the response headers.");
    }

    public Counter<long> Requests { get; }

    public Counter<long> OriginRequests { get; }

    public Counter<long> Stored { get; }

    public Counter<long> HitForPass { get; }

    public Counter<long> StoresRefused { get; }

    public Histogram<double> WaiterWait { get; }

    public void Request(RequestResult result) => Requests.Add(1, new KeyValuePair<string, object?>("stampedeguard.result", result.Tag()));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
