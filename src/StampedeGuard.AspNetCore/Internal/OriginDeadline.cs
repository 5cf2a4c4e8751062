namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// The race between an origin execution's response headers and <see cref="StampedeResponseCachingOptions.OriginTimeout"/>:
/// exactly one of them wins. The timer runs on the engine's <see cref="TimeProvider"/> (a fake clock in tests).
/// </summary>
internal sealed class OriginDeadline : IDisposable
{
    private const int Pending = 0;
    private const int HeadersWon = 1;
    private const int TimeoutWon = 2;

    private readonly ITimer? _timer;
    private int _state;

    /// <summary>Starts the deadline; <paramref name="onTimeout"/> runs once if it passes before the headers arrive.</summary>
    public OriginDeadline(TimeProvider time, TimeSpan timeout, Action onTimeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        _timer = time.CreateTimer(
            static state =>
            {
                var (self, callback) = ((OriginDeadline, Action))state!;
                if (Interlocked.CompareExchange(ref self._state, TimeoutWon, Pending) == Pending)
                {
                    callback();
                }
            },
            (this, onTimeout),
            timeout,
            Timeout.InfiniteTimeSpan);
    }

    /// <summary>Gets whether the deadline passed first (the execution's response, if it ever comes, is discarded).</summary>
    public bool TimedOut => Volatile.Read(ref _state) == TimeoutWon;

    /// <summary>Claims the win for the headers; false when the deadline already passed.</summary>
    public bool TryClaimHeaders()
    {
        var won = Interlocked.CompareExchange(ref _state, HeadersWon, Pending) != TimeoutWon;
        _timer?.Dispose();
        return won;
    }

    public void Dispose() => _timer?.Dispose();
}
