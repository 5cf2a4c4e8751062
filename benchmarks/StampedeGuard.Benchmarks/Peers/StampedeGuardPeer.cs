namespace StampedeGuard.Benchmarks.Peers;

/// <summary>StampedeGuard as its docs recommend: <c>GetOrCreateAsync</c>'s <c>TState</c> overload with static lambdas and shared entry options.</summary>
/// <param name="value">The value every factory returns.</param>
/// <param name="localCacheSizeLimit">The private L1's size limit; the default (256 MiB) when null.</param>
public sealed class StampedeGuardPeer(Page value, long? localCacheSizeLimit = null) : CachePeer(value)
{
    private static readonly StampedeCacheEntryOptions EntryOptions = new() { Duration = Lifetime };
    private readonly StampedeCache _cache = new(new StampedeCacheOptions
    {
        DefaultEntryOptions = EntryOptions,
        LocalCacheSizeLimit = localCacheSizeLimit ?? StampedeCacheOptions.DefaultLocalCacheSizeLimit,
    });

    /// <inheritdoc />
    protected override int Index => 3;

    /// <inheritdoc />
    public override Page Hit(string key) => Synchronous(GetOrCreateAsync(key));

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateAsync(string key) =>
        _cache.GetOrCreateAsync<Page, Page>(key, Value, static (value, _, _) => new ValueTask<Page>(value), EntryOptions);

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateYieldingAsync(string key) =>
        _cache.GetOrCreateAsync<Page, Page>(key, Value, static async (value, _, _) =>
        {
            await Task.Yield();
            return value;
        }, EntryOptions);

    /// <inheritdoc />
    public override ValueTask<Page> GetOrCreateGatedAsync(string key, Gate gate) =>
        _cache.GetOrCreateAsync<Gate, Page>(key, gate, static (g, _, _) => new ValueTask<Page>(g.RenderAsync()), EntryOptions);

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _cache.Dispose();
}
