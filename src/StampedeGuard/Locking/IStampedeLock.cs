namespace StampedeGuard.Locking;

/// <summary>
/// A named lock usable on its own: <c>await using var lease = await locks.AcquireAsync("name");</c>.
/// <see cref="StampedeLocalLock"/> is the in-process implementation; the Redis package provides one across processes.
/// </summary>
public interface IStampedeLock
{
    /// <summary>Acquires the lock, waiting at most <see cref="StampedeLockOptions.WaitTimeout"/>.</summary>
    /// <param name="name">The lock name.</param>
    /// <param name="options">Wait timeout, lease length, auto-extension.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The lease; dispose it to release.</returns>
    /// <exception cref="StampedeLockTimeoutException">The wait timed out.</exception>
    ValueTask<StampedeLease> AcquireAsync(string name, StampedeLockOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Tries to acquire the lock, waiting at most <see cref="StampedeLockOptions.WaitTimeout"/> (zero: try once).</summary>
    /// <param name="name">The lock name.</param>
    /// <param name="options">Wait timeout, lease length, auto-extension.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The lease, or null if the lock was not acquired in time.</returns>
    ValueTask<StampedeLease?> TryAcquireAsync(string name, StampedeLockOptions? options = null, CancellationToken cancellationToken = default);
}
