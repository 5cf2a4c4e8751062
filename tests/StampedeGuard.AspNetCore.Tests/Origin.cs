namespace StampedeGuard.AspNetCore.Tests;

/// <summary>Counts origin executions and how many run at once.</summary>
public sealed class Origin
{
    private int _executions;
    private int _concurrent;
    private int _maxConcurrent;

    public int Executions => Volatile.Read(ref _executions);

    public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);

    public int Concurrent => Volatile.Read(ref _concurrent);

    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IDisposable Enter()
    {
        Interlocked.Increment(ref _executions);
        var now = Interlocked.Increment(ref _concurrent);
        int max;
        while (now > (max = Volatile.Read(ref _maxConcurrent)) && Interlocked.CompareExchange(ref _maxConcurrent, now, max) != max)
        {
        }

        Entered.TrySetResult();
        return new Exit(this);
    }

    private sealed class Exit(Origin origin) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref origin._concurrent);
    }
}
