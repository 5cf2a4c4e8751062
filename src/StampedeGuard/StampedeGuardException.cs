namespace StampedeGuard;

/// <summary>The base of the exceptions StampedeGuard itself throws. Factory exceptions reach callers unchanged.</summary>
public class StampedeGuardException : Exception
{
    /// <summary>Creates an exception.</summary>
    public StampedeGuardException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The message.</param>
    public StampedeGuardException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public StampedeGuardException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
