using System.Diagnostics.CodeAnalysis;
using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard.Locking;

/// <summary>
/// An in-process named lock: one holder per name at a time, waiters in FIFO order, no lease (held until released).
/// A standalone primitive for application code (<see cref="IStampedeLock"/>); the cache engine does not use it (its
/// single-flight is the per-key flight). Names are reclaimed when nobody holds or waits for them.
/// </summary>
public sealed class StampedeLocalLock : IStampedeLock
{
    private readonly Dictionary<string, Gate> _gates = new(StringComparer.Ordinal);
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates a lock table.</summary>
    /// <param name="timeProvider">The clock for wait timeouts; <see cref="TimeProvider.System"/> when null.</param>
    public StampedeLocalLock(TimeProvider? timeProvider = null) => _timeProvider = timeProvider ?? TimeProvider.System;

    /// <summary>Gets the number of names currently held or waited for.</summary>
    internal int Count
    {
        get
        {
            lock (_gates)
            {
                return _gates.Count;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<StampedeLease> AcquireAsync(string name, StampedeLockOptions? options = null, CancellationToken cancellationToken = default)
    {
        var timeout = options?.WaitTimeout ?? Timeout.InfiniteTimeSpan;
        return await AcquireCoreAsync(name, timeout, cancellationToken).ConfigureAwait(false)
            ?? throw new StampedeLockTimeoutException($"The lock '{name}' was not acquired within {timeout}.");
    }

    /// <inheritdoc />
    public ValueTask<StampedeLease?> TryAcquireAsync(string name, StampedeLockOptions? options = null, CancellationToken cancellationToken = default)
    {
        var timeout = options?.WaitTimeout ?? TimeSpan.Zero;
        return AcquireCoreAsync(name, timeout == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : timeout, cancellationToken);
    }

    private async ValueTask<StampedeLease?> AcquireCoreAsync(string name, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        timeout = TimerBound(timeout); // longer than a timer can take (about 49.7 days): no timeout.

        var gate = Rent(name);
        var acquired = false;
        try
        {
            acquired = gate.Semaphore.Wait(0, CancellationToken.None);
            if (!acquired && timeout != TimeSpan.Zero)
            {
                acquired = await WaitAsync(gate.Semaphore, timeout, cancellationToken).ConfigureAwait(false);
            }

            return acquired ? new Lease(this, name, gate) : null;
        }
        finally
        {
            if (!acquired)
            {
                Return(name, gate);
            }
        }
    }

    private async Task<bool> WaitAsync(SemaphoreSlim semaphore, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (timeout == Timeout.InfiniteTimeSpan || _timeProvider == TimeProvider.System)
        {
            return await semaphore.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }

        // A non-system clock (tests): bound the wait by that clock's timer.
        using var timeoutCts = new CancellationTokenSource(timeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        try
        {
            await semaphore.WaitAsync(linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (timeoutCts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private Gate Rent(string name)
    {
        lock (_gates)
        {
            if (!_gates.TryGetValue(name, out var gate))
            {
                gate = new Gate();
                _gates.Add(name, gate);
            }

            gate.References++;
            return gate;
        }
    }

    private void Return(string name, Gate gate)
    {
        lock (_gates)
        {
            if (--gate.References == 0)
            {
                _gates.Remove(name);
                gate.Semaphore.Dispose();
            }
        }
    }

    private sealed class Gate
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int References { get; set; }
    }

    private sealed class Lease(StampedeLocalLock owner, string name, Gate gate) : StampedeLease
    {
        private int _released;

        public override string Name => name;

        public override string Token { get; } = Guid.NewGuid().ToString("N");

        public override CancellationToken LeaseLost => CancellationToken.None;

        [SuppressMessage("Reliability", "CA2000", Justification = "The gate is owned by the lock table.")]
        public override ValueTask ReleaseAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Semaphore.Release();
                owner.Return(name, gate);
            }

            return ValueTask.CompletedTask;
        }
    }
}
