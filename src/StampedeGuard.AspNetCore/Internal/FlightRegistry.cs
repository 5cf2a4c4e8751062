using StampedeGuard.Shared;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// The in-flight origin executions of this process (a singleton, so purges from application code see them too): the
/// engine's flight table, by flight key, where a flight can also be found under the variant key its response selects.
/// Registered with its engine, an invalidation by tag supersedes the executions carrying the tag wherever it comes
/// from: this instance's purge, the application's own <see cref="IStampedeCache.RemoveByTagAsync"/>, or another
/// instance's, heard through the backplane.
/// </summary>
internal sealed class FlightRegistry : IDisposable
{
    private readonly IStampedeCache _cache;
    private readonly IDisposable? _registration;

    public FlightRegistry(ResponseCacheEngine engine)
    {
        _cache = engine.Cache;
        _registration = (engine.Cache as StampedeCache)?.RegisterTagInvalidation(PurgeAsync);
    }

    public FlightTable<ResponseFlight> Flights { get; } = new();

    /// <summary>Removes a finished flight under its key and its variant key (never a newer flight that replaced it).</summary>
    public void Remove(ResponseFlight flight)
    {
        Flights.Remove(flight.Key, flight);
        if (flight.AliasKey is { } alias)
        {
            Flights.Remove(alias, flight);
        }
    }

    /// <summary>
    /// Supersedes every in-flight execution carrying <paramref name="tag"/> (its URL's tag or one of its response's
    /// tags): it still answers the clients that joined it, nobody joins it any more, and it stores nothing. Returns its
    /// store under way, if any: the purge waits for it and then applies, so the purge wins.
    /// </summary>
    public Task PurgeAsync(string tag) => Flights.SupersedeTagged(tag, all: tag == StampedeKeys.AllTag);

    /// <summary>
    /// Invalidates <paramref name="tag"/> (a URL's or a response's) in the cache, the executions in flight carrying it
    /// superseded first, so the purge wins over their stores. The engine's <c>RemoveByTagAsync</c> does both (this
    /// registry listens to it); over an application's own <see cref="IStampedeCache"/> the registry supersedes them itself.
    /// </summary>
    public async ValueTask InvalidateAsync(string tag, CancellationToken cancellationToken = default)
    {
        if (_registration is null)
        {
            await PurgeAsync(tag).ConfigureAwait(false);
        }

        await _cache.RemoveByTagAsync(tag, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _registration?.Dispose();
}
