namespace StampedeGuard.Tests.Infrastructure;

/// <summary>A factory body the test controls: counts calls, records their tokens, and waits on a gate the test opens.</summary>
internal sealed class GatedFactory<T>
{
    private readonly object _sync = new();
    private readonly List<CancellationToken> _tokens = [];
    private TaskCompletionSource<T> _gate = NewGate();
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public IReadOnlyList<CancellationToken> Tokens
    {
        get
        {
            lock (_sync)
            {
                return [.. _tokens];
            }
        }
    }

    public async ValueTask<T> InvokeAsync(CancellationToken cancellationToken)
    {
        Task<T> gate;
        lock (_sync)
        {
            _tokens.Add(cancellationToken);
            gate = _gate.Task;
        }

        Interlocked.Increment(ref _calls);
        return await gate.ConfigureAwait(false);
    }

    /// <summary>Completes the current gate with a value; later calls wait on a new gate.</summary>
    public void Release(T value) => Swap().TrySetResult(value);

    /// <summary>Fails the current gate; later calls wait on a new gate.</summary>
    public void Fail(Exception exception) => Swap().TrySetException(exception);

    private TaskCompletionSource<T> Swap()
    {
        lock (_sync)
        {
            var current = _gate;
            _gate = NewGate();
            return current;
        }
    }

    private static TaskCompletionSource<T> NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
