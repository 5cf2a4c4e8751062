namespace StampedeGuard.Stampede.Strategies;

/// <summary>Every call renders the page.</summary>
internal sealed class NoCacheStrategy(Origin origin, TimeSpan ttl) : Strategy(origin, ttl)
{
    public override ValueTask<LandingPage> GetAsync(CancellationToken cancellationToken) => Origin.RenderAsync(cancellationToken);

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
