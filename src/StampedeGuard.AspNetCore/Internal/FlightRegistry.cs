using System.Collections.Concurrent;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// The in-flight origin executions of this process, by flight key (a singleton, so purges from application code see
/// them too). A purge marks the URL's executions so what they fetched before the purge is not stored after it.
/// </summary>
internal sealed class FlightRegistry
{
    public ConcurrentDictionary<string, ResponseFlight> Flights { get; } = new(StringComparer.Ordinal);

    public void Remove(ResponseFlight flight)
    {
        Flights.TryRemove(new KeyValuePair<string, ResponseFlight>(flight.Key, flight));
        if (flight.AliasKey is { } alias)
        {
            Flights.TryRemove(new KeyValuePair<string, ResponseFlight>(alias, flight));
        }
    }

    /// <summary>Marks every in-flight execution of the URL with this tag: it still answers its clients but stores nothing.</summary>
    public void InvalidateUrl(string urlTag)
    {
        foreach (var (_, flight) in Flights)
        {
            if (flight.UrlTag == urlTag)
            {
                flight.Invalidated = true;
            }
        }
    }
}
