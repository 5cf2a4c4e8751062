namespace StampedeGuard.Benchmarks.Peers;

/// <summary>StampedeGuard as its docs recommend: <c>GetOrCreateAsync</c>'s <c>TState</c> overload with static lambdas and shared entry options.</summary>
public sealed class StampedeGuardPeer(Page value) : CachePeer(value)
{
    private static readonly StampedeCacheEntryOptions EntryOptions = new() { Duration = Lifetime };
    private readonly StampedeCache _cache = new(new StampedeCacheOptions { DefaultEntryOptions = EntryOptions });

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
