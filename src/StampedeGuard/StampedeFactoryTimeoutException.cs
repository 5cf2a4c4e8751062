namespace StampedeGuard;

/// <summary>
/// Thrown to every caller of a flight whose factory exceeded <see cref="StampedeCacheEntryOptions.FactoryHardTimeout"/>
/// when no fail-safe value existed. The factory's cancellation token is cancelled.
/// </summary>
public sealed class StampedeFactoryTimeoutException : StampedeGuardException
{
    /// <summary>Creates an exception.</summary>
    public StampedeFactoryTimeoutException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The message.</param>
    public StampedeFactoryTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public StampedeFactoryTimeoutException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
