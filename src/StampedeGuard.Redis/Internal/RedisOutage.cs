using Microsoft.Extensions.Logging;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// Turns a Redis outage into two log lines: one when the first failure is seen (with that exception), one when Redis
/// answers again (how long it lasted, how many calls failed or were skipped, how many connection failures the client
/// reported). Everything in between is counted, and logged at Debug only.
/// </summary>
internal sealed class RedisOutage(ILogger logger, TimeProvider timeProvider)
{
    private readonly object _gate = new();
    private bool _active;
    private long _started;
    private long _failed;
    private long _skipped;
    private long _connectionFailures;

    /// <summary>Gets whether an outage is under way (its start logged, its end not yet).</summary>
    public bool IsActive => Volatile.Read(ref _active);

    public void Failed(string operation, Exception exception)
    {
        lock (_gate)
        {
            Begin(operation, exception);
            _failed++;
        }
    }

    public void Skipped(string operation, Exception exception)
    {
        lock (_gate)
        {
            Begin(operation, exception);
            _skipped++;
        }
    }

    public void ConnectionFailed(string connection, Exception? exception)
    {
        lock (_gate)
        {
            Begin(connection + " connection", exception);
            _connectionFailures++;
        }
    }

    /// <summary>Redis answered (a call succeeded, or the client restored its interactive connection): the outage, if any, ends.</summary>
    public void Succeeded()
    {
        if (!Volatile.Read(ref _active))
        {
            return;
        }

        lock (_gate)
        {
            if (!_active)
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
        Volatile.Write(ref _active, true);
        Log.OutageStarted(logger, what, exception);
    }
}
