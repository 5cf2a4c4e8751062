namespace StampedeGuard.Internal;

/// <summary>One run of a key's factory and everyone waiting for it (single-flight).</summary>
internal abstract class Flight
{
    private volatile bool _superseded;


    public abstract bool IsBackground { get; }

    /// <summary>
    /// Gets whether a newer run or an explicit write/remove replaced this one: its result still answers its own
    /// waiters but is not stored (local fencing: an older result never overwrites a newer one).
    /// </summary>
    public bool IsSuperseded => _superseded;

    public void Supersede() => _superseded = true;
}

/// <summary>
/// A typed flight. Callers join and leave; the factory runs on <see cref="Token"/>, which the flight owns and
/// cancels only when every waiter has cancelled (or on a hard timeout), never because one caller went away.
/// </summary>
/// <typeparam name="T">The value type.</typeparam>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The token source has no timer; a flight's token may be cancelled after it completes, so it is never disposed.")]
internal sealed class Flight<T> : Flight
{
    private readonly TaskCompletionSource<T> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cts = new();
    private readonly bool _background;
    private int _waiters;
    private bool _closed;
    private bool _keepRunning;

    public Flight(CacheEntry<T>? stale, bool background)
    {
        Stale = stale;
        _background = background;
    }

    public override bool IsBackground => _background;

    /// <summary>The previous value, for fail-safe, soft timeouts and the factory's context.</summary>
    public CacheEntry<T>? Stale { get; set; }

    public Task<T> Answer => _answer.Task;

    public CancellationToken Token => _cts.Token;

    public bool TryJoin()
    {
        lock (_answer)
        {
            if (_closed)
            {
                return false;
            }

            _waiters++;
            return true;
        }
    }

    /// <summary>A caller stops waiting. When the last one leaves because it was cancelled, the factory is cancelled.</summary>
    public void Leave(bool cancelled)
    {
        var cancelFactory = false;
        lock (_answer)
        {
            _waiters--;
            if (_waiters == 0 && cancelled && !_background && !_keepRunning && !_answer.Task.IsCompleted)
            {
                _closed = true;
                cancelFactory = true;
            }
        }

        if (cancelFactory)
        {
            _cts.Cancel();
        }
    }

    /// <summary>Nobody may join any more (a waiter gave up on it after LockTimeout); the run itself goes on.</summary>
    public void Close()
    {
        lock (_answer)
        {
            _closed = true;
        }
    }

    /// <summary>A caller was promised this run finishes and updates the cache (soft timeout): waiters can no longer cancel it.</summary>
    public void KeepRunning()
    {
        lock (_answer)
        {
            _keepRunning = true;
        }
    }

    /// <summary>
    /// Gets or sets the distributed lease this run holds. A fenced write consumes it (the store releases it with the
    /// write); whatever is still held when the run ends is released then. One owner, one place.
    /// </summary>
    public StampedeLease? Lease { get; set; }

    /// <summary>The entry whose refresh claim this background run holds (released if the run fails).</summary>
    public CacheEntry? Claimed { get; init; }

    public void CancelFactory() => _cts.Cancel();

    public bool TrySetResult(T value) => _answer.TrySetResult(value);

    public void SetException(Exception exception)
    {
        if (_answer.TrySetException(exception))
        {
            // Observed on purpose: a background run may have no waiter, and that is not an unobserved fault.
            _ = _answer.Task.Exception;
        }
    }
}
