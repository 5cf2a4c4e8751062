namespace StampedeGuard;

/// <summary>
/// A held lock on a key or name. Dispose to release. <see cref="LeaseLost"/> is cancelled if the lease is lost
/// (it expired, or an extension was refused), after which the holder must not act as owner.
/// </summary>
public abstract class StampedeLease : IAsyncDisposable
{
    /// <summary>Gets the locked key or name.</summary>
    public abstract string Name { get; }

    /// <summary>Gets the random owner token that fences writes.</summary>
    public abstract string Token { get; }

    /// <summary>
    /// Gets a token cancelled when the lease is lost. Implementations check their local deadline when this is read, so
    /// reading it right before acting as owner tells whether the lease has run out, even if no timer has fired yet.
    /// </summary>
    public abstract CancellationToken LeaseLost { get; }

    /// <summary>Releases the lease if it is still owned. Idempotent.</summary>
    /// <returns>A task that completes when released.</returns>
    public abstract ValueTask ReleaseAsync();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await ReleaseAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
