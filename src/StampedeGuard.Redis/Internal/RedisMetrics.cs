using System.Diagnostics.Metrics;

namespace StampedeGuard.Redis.Internal;

/// <summary>The <c>StampedeGuard.Redis</c> meter's instruments. Tags stay low-cardinality (never a key).</summary>
internal sealed class RedisMetrics : IDisposable
{
    public const string MeterName = "StampedeGuard.Redis";
    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public RedisMetrics(IMeterFactory? meterFactory)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        Errors = _meter.CreateCounter<long>("stampedeguard.redis.errors", "{error}", "Redis calls that failed, timed out or were skipped by the open circuit (tag: stampedeguard.operation).");
        CircuitOpened = _meter.CreateCounter<long>("stampedeguard.redis.circuit_opened", "{event}", "Times the circuit breaker opened (Redis considered down).");
        CircuitClosed = _meter.CreateCounter<long>("stampedeguard.redis.circuit_closed", "{event}", "Times the circuit breaker closed again (Redis back).");
        CorruptValues = _meter.CreateCounter<long>("stampedeguard.redis.corrupt_values", "{value}", "Values under our keys that were not ours (treated as misses).");
        FencedWrites = _meter.CreateCounter<long>("stampedeguard.redis.fenced_writes_refused", "{write}", "Writes refused because the writer's lease was lost.");
        LeasesLost = _meter.CreateCounter<long>("stampedeguard.redis.leases_lost", "{lease}", "Leases lost (expired or taken over) while held.");
        Resets = _meter.CreateCounter<long>("stampedeguard.redis.resets", "{reset}", "Times the node was told to drop its in-memory copies: the subscription broke, a heartbeat went missing, or Redis's epoch went back.");
        Notifications = _meter.CreateCounter<long>("stampedeguard.redis.notifications", "{message}", "Notifications received on the channel.");
    }

    public Counter<long> Errors { get; }

    public Counter<long> CircuitOpened { get; }

    public Counter<long> CircuitClosed { get; }

    public Counter<long> CorruptValues { get; }

    public Counter<long> FencedWrites { get; }

    public Counter<long> LeasesLost { get; }

    public Counter<long> Notifications { get; }

    public Counter<long> Resets { get; }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
