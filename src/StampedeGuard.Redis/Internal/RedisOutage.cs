using Microsoft.Extensions.Logging;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// Turns a Redis outage into two log lines: one when it starts (a connection failure, a call failing for want of a
/// connection, or the circuit opening; isolated slow calls on a live connection are not an outage), one when Redis
/// answers again (how long it lasted, how many calls failed or were skipped, how many connection failures the client
/// reported). Everything in between is counted, and logged at Debug only. Only a call started after the outage began
/// can end it (a reply to a call sent before the failure proves nothing), so one outage is one pair of lines.
/// </summary>
internal sealed class RedisOutage(ILogger logger, TimeProvider timeProvider)
{
    private readonly object _gate = new();
    private bool _active;
    private long _started;
    private long _failed;
    private long _skipped;
    private long _connectionFailures;
    private long _epoch;

    /// <summary>Gets whether an outage is under way (its start logged, its end not yet).</summary>
    public bool IsActive => Volatile.Read(ref _active);

    /// <summary>Gets the number of outages begun so far: a call takes it before it starts, and hands it to <see cref="Succeeded"/>.</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    public void Failed(string operation, Exception exception)
    {
        lock (_gate)
        {
            Begin(operation + " failed", exception);
            _failed++;
        }
    }

    public void Skipped(string operation, Exception exception)
    {
        lock (_gate)
        {
            Begin(operation + " skipped by the open circuit", exception);
            _skipped++;
        }
    }

    public void CircuitOpened(Exception? exception)
    {
        lock (_gate)
        {
            Begin("the circuit opened", exception);
        }
    }

    public void ConnectionFailed(string connection, Exception? exception)
    {
        lock (_gate)
        {
            Begin(connection + " connection failed", exception);
            _connectionFailures++;
        }
    }

    /// <summary>A call that started at <paramref name="epoch"/> succeeded: if it started during the current outage, the outage ends.</summary>
    public void Succeeded(long epoch)
    {
        if (!Volatile.Read(ref _active))
        {
            return;
        }

        lock (_gate)
        {
            if (!_active || epoch != _epoch)
            {
                return;
            }

            Log.OutageEnded(logger, timeProvider.GetElapsedTime(_started).TotalSeconds, _failed, _skipped, _connectionFailures);
            Volatile.Write(ref _active, false);
            _failed = _skipped = _connectionFailures = 0;
        }
    }

    private void Begin(string what, Exception? exception)
    {
        if (_active)
        {
            return;
        }

        _started = timeProvider.GetTimestamp();
        Interlocked.Increment(ref _epoch);
        Volatile.Write(ref _active, true);
        Log.OutageStarted(logger, what, exception);
    }
}
