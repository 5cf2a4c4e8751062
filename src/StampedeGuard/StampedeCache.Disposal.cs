using StampedeGuard.Internal;

namespace StampedeGuard;

/// <summary>Disposal, and the factory tasks nobody awaits any more (observed, logged, counted).</summary>
public sealed partial class StampedeCache
{
    /// <summary>Stops listening to the backplane and releases the private memory cache, if any.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;

        // Every run is cancelled and every waiter gets ObjectDisposedException at once.
        var disposed = new ObjectDisposedException(nameof(StampedeCache));
        _flights.SupersedeAll(flight => flight.Abort(disposed));
        try
        {
            _disposing.Cancel(); // the runs that only disposal could cancel
        }
        catch (AggregateException)
        {
            // A factory's own cancellation callback threw: the runs end anyway.
        }

        _subscription?.Dispose();
        _metrics.Dispose();
        _local.Dispose();
    }

    /// <summary>Whether <paramref name="error"/> was thrown by the factory itself (not by the hard-timeout wait).</summary>
    private static bool IsFactorysOwn(Task? pending, Exception error) =>
        pending is { IsFaulted: true, Exception: { } faults } && faults.InnerExceptions.Contains(error);

    /// <summary>
    /// A factory task nobody awaits any more (hard timeout, cancelled run): its eventual failure is observed, logged
    /// and counted, never an UnobservedTaskException.
    /// </summary>
    private void ObserveAbandoned(string key, Task? pending)
    {
        pending?.ContinueWith(
            static (task, state) =>
            {
                var (cache, key) = ((StampedeCache, string))state!;
                var error = task.Exception!.InnerException ?? task.Exception;
                if (error is not OperationCanceledException)
                {
                    cache._metrics.FactoryErrors.Add(1);
                    Log.AbandonedFactoryFailed(cache._logger, key, error);
                }
            },
            (this, key),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }
}
