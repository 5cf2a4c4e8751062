namespace StampedeGuard;

/// <summary>
/// An invalidation (<c>SetAsync</c>, <c>RemoveAsync</c>, <c>ExpireAsync</c>, <c>RemoveByTagAsync</c>) could not be
/// confirmed by the distributed tier after its retries: it may or may not have applied there, and other nodes may not
/// have been told. The local tier already reflects it. Retry the call, or treat the key as unknown.
/// </summary>
public sealed class StampedeInvalidationException : StampedeGuardException
{
    /// <summary>Creates an exception.</summary>
    public StampedeInvalidationException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The message.</param>
    public StampedeInvalidationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public StampedeInvalidationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
