namespace StampedeGuard.Locking;

/// <summary>Thrown by <see cref="IStampedeLock.AcquireAsync"/> when the lock was not acquired within the wait timeout.</summary>
public sealed class StampedeLockTimeoutException : StampedeGuardException
{
    /// <summary>Creates an exception.</summary>
    public StampedeLockTimeoutException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The message.</param>
    public StampedeLockTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public StampedeLockTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
