namespace StampedeGuard.TestSupport.Http;

/// <summary>Counts an origin's executions and how many run at once; <see cref="Enter"/> at the start of each.</summary>
public sealed class OriginCounter
{
    private int _executions;
    private int _concurrent;
    private int _maxConcurrent;

    public int Executions => Volatile.Read(ref _executions);

    public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);

    /// <summary>Gets how many executions run now.</summary>
    public int Concurrent => Volatile.Read(ref _concurrent);

    /// <summary>Completes when the first execution starts.</summary>
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Counts one execution until the returned scope is disposed.</summary>
    public IDisposable Enter()
    {
        Interlocked.Increment(ref _executions);
        var now = Interlocked.Increment(ref _concurrent);
        for (var max = Volatile.Read(ref _maxConcurrent); now > max; max = Volatile.Read(ref _maxConcurrent))
        {
            if (Interlocked.CompareExchange(ref _maxConcurrent, now, max) == max)
            {
                break;
            }
        }

        Entered.TrySetResult();
        return new Scope(this);
    }

    private sealed class Scope(OriginCounter counter) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref counter._concurrent);
    }
}
