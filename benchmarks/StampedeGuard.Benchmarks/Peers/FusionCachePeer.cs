using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;

namespace StampedeGuard.Benchmarks.Peers;

/// <summary>
/// FusionCache as its docs set it up: <c>AddFusionCache()</c> with a default <c>Duration</c> (memory only: no
/// distributed cache, no backplane), <c>GetOrSetAsync</c> with the default entry options. FusionCache has no
/// <c>TState</c> overload, so the factories are created once here (no closure per call).
/// </summary>
public sealed class FusionCachePeer : CachePeer
{
    private readonly ServiceProvider _services;
    private readonly IFusionCache _cache;
    private readonly Func<FusionCacheFactoryExecutionContext<Page>, CancellationToken, Task<Page>> _syncFactory;
    private readonly Func<FusionCacheFactoryExecutionContext<Page>, CancellationToken, Task<Page>> _yieldingFactory;
    private Gate? _gate;
    private Func<FusionCacheFactoryExecutionContext<Page>, CancellationToken, Task<Page>>? _gatedFactory;

    /// <summary>Creates a FusionCache through dependency injection.</summary>
    public FusionCachePeer(Page value)
        : base(value)
    {
        _services = new ServiceCollection()
            .AddFusionCache().WithDefaultEntryOptions(new FusionCacheEntryOptions { Duration = Lifetime })
            .Services.BuildServiceProvider();
        _cache = _services.GetRequiredService<IFusionCache>();
        var completed = Task.FromResult(value);
        _syncFactory = (_, _) => completed;
        _yieldingFactory = async (_, _) =>
        {
            await Task.Yield();
            return value;
        };
    }

    /// <inheritdoc />
    protected override int Index => 2;

    /// <inheritdoc />
    public override Page Hit(string key) => Synchronous(GetOrCreateAsync(key));

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateAsync(string key) => _cache.GetOrSetAsync<Page>(key, _syncFactory);

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateYieldingAsync(string key) => _cache.GetOrSetAsync<Page>(key, _yieldingFactory);

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateGatedAsync(string key, Gate gate)
    {
        // One delegate per cold key (callers are started from one thread), not one closure per caller.
        if (!ReferenceEquals(_gate, gate))
        {
            _gate = gate;
            _gatedFactory = (_, _) => gate.RenderAsync();
        }

        return _cache.GetOrSetAsync<Page>(key, _gatedFactory!);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _services.Dispose();
}
