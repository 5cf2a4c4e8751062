using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>
/// One library as a node of a fleet uses it. <see cref="Prepare"/> builds the call once (entry options, the factory
/// adapted to the library's delegate type), so a loop pays only for the library's own work. Each library is registered
/// in a service collection as its docs show and resolved from it.
/// </summary>
internal abstract class PeerCache : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    protected PeerCache(Action<IServiceCollection> register)
    {
        var services = new ServiceCollection();
        register(services);
        _services = services.BuildServiceProvider();
    }

    public static PeerCache Create(PeerLibrary library, string configuration) => library switch
    {
        PeerLibrary.StampedeGuard => new StampedeGuardPeerCache(configuration),
        PeerLibrary.FusionCache => new FusionCachePeerCache(configuration),
        PeerLibrary.HybridCache => new HybridCachePeerCache(configuration),
        PeerLibrary.StampedeGuardBare => StampedeGuardBarePeerCache.Create(configuration),
        _ => throw new ArgumentOutOfRangeException(nameof(library), library, null),
    };

    /// <summary>
    /// GetOrCreate with <paramref name="factory"/> and <paramref name="duration"/>; with <paramref name="skipLocalRead"/>
    /// the library's own flag for reading Redis without its memory tier first (an L2 hit).
    /// </summary>
    public abstract Func<string, ValueTask<string>> Prepare(Func<CancellationToken, ValueTask<string>> factory, TimeSpan duration, bool skipLocalRead = false);

    public abstract ValueTask SetAsync(string key, string value, TimeSpan duration);

    /// <summary>Reads memory, then Redis; never runs a factory. Null when the key is nowhere.</summary>
    public abstract ValueTask<string?> TryGetAsync(string key);

    public virtual ValueTask DisposeAsync() => _services.DisposeAsync();

    protected T Resolve<T>()
        where T : notnull => _services.GetRequiredService<T>();
}
