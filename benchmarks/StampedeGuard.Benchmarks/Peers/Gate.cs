namespace StampedeGuard.Benchmarks.Peers;

/// <summary>A factory for the cold-key runs: it counts its runs and completes only when <see cref="Open"/> is called.</summary>
public sealed class Gate
{
    private readonly TaskCompletionSource<Page> _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _runs;

    /// <summary>How many times a library ran the factory.</summary>
    public int Runs => Volatile.Read(ref _runs);

    /// <summary>The factory: a task that completes when the gate opens.</summary>
    public Task<Page> RenderAsync()
    {
        Interlocked.Increment(ref _runs);
        return _open.Task;
    }

    /// <summary>Completes the factory with <paramref name="page"/>.</summary>
    public void Open(Page page) => _open.SetResult(page);
}
