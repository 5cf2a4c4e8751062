namespace StampedeGuard.Tests.Infrastructure;

/// <summary>A factory body the test controls: counts calls, records their tokens, and waits on a gate the test opens.</summary>
internal sealed class GatedFactory<T>
{
    private readonly object _sync = new();
    private readonly List<CancellationToken> _tokens = [];
    private TaskCompletionSource<T> _gate = NewGate();
    private bool _taken;
    private bool _swapOnTake;
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
            _taken = true;
            if (_swapOnTake)
            {
                // Released before anyone took it: this call gets that result, later calls wait on a new gate.
                _gate = NewGate();
                _swapOnTake = false;
                _taken = false;
            }
        }

        Interlocked.Increment(ref _calls);
        return await gate.ConfigureAwait(false);
    }

    /// <summary>
    /// Completes the current gate with a value; later calls wait on a new gate. Released before any call took the gate
    /// (the engine starts factories on the thread pool), the next call gets the value.
    /// </summary>
    public void Release(T value) => Swap().TrySetResult(value);

    /// <summary>Fails the current gate; later calls wait on a new gate.</summary>
    public void Fail(Exception exception) => Swap().TrySetException(exception);

    private TaskCompletionSource<T> Swap()
    {
        lock (_sync)
        {
            var current = _gate;
            if (_taken)
            {
                _gate = NewGate();
                _taken = false;
            }
            else
            {
                _swapOnTake = true;
            }

            return current;
        }
    }

    private static TaskCompletionSource<T> NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
