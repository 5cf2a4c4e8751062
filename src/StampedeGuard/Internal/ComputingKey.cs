namespace StampedeGuard.Internal;

/// <summary>
/// The runs whose factories are running on the current logical flow (an <see cref="AsyncLocal{T}"/> chain of the
/// flights themselves, so marking a run allocates no node of its own), so a factory that asks its own cache for its
/// own key is detected at once instead of waiting for itself.
/// </summary>
internal static class ComputingKey
{
    private static readonly AsyncLocal<Flight?> Current = new();

    /// <summary>
    /// Marks <paramref name="flight"/> (key <paramref name="key"/> of <paramref name="cache"/>) as computed by the
    /// current flow (call at the start of the factory's own task, or around an inline call with <see cref="Exit"/>).
    /// Returns the previous mark.
    /// </summary>
    public static Flight? Enter(Flight flight, object cache, string key)
    {
        var previous = Current.Value;
        flight.MarkComputing(cache, key, previous);
        Current.Value = flight;
        return previous;
    }

    /// <summary>Gets the innermost run marked on the current flow, if any (a batch's per-key factory: its own run).</summary>
    public static Flight? Innermost => Current.Value;

    /// <summary>Restores the mark <see cref="Enter"/> returned (after a factory called inline returned its task).</summary>
    public static void Exit(Flight? previous) => Current.Value = previous;

    /// <summary>Whether the current flow is inside the factory of <paramref name="key"/> of <paramref name="cache"/>.</summary>
    public static bool Contains(object cache, string key)
    {
        for (var flight = Current.Value; flight is not null; flight = flight.ComputingParent)
        {
            if (ReferenceEquals(flight.ComputingCache, cache) && string.Equals(flight.ComputingFor, key, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
