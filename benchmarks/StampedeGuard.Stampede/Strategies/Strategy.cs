namespace StampedeGuard.Stampede.Strategies;

/// <summary>One way of putting a cache in front of the origin. Each run gets a fresh instance (and a fresh cache).</summary>
internal abstract class Strategy : IAsyncDisposable
{
    protected Strategy(Origin origin, TimeSpan ttl)
    {
        Origin = origin;
        Ttl = ttl;
    }

    protected Origin Origin { get; }

    protected TimeSpan Ttl { get; }

    public abstract ValueTask<LandingPage> GetAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();
}
