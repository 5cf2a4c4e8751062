namespace StampedeGuard.Internal;

/// <summary>
/// The keys whose factories are running on the current logical flow (an <see cref="AsyncLocal{T}"/> stack), so a
/// factory that asks its own cache for its own key is detected at once instead of waiting for itself.
/// </summary>
internal sealed class ComputingKey
{
    private static readonly AsyncLocal<ComputingKey?> Current = new();

    private ComputingKey(object cache, string key, ComputingKey? parent)
    {
        Cache = cache;
        Key = key;
        Parent = parent;
    }

    private object Cache { get; }

    private string Key { get; }

    private ComputingKey? Parent { get; }

    /// <summary>
    /// Marks <paramref name="key"/> of <paramref name="cache"/> as computed by the current flow (call at the start of
    /// the factory's own task, or around an inline call with <see cref="Exit"/>). Returns the previous mark.
    /// </summary>
    public static ComputingKey? Enter(object cache, string key)
    {
        var previous = Current.Value;
        Current.Value = new ComputingKey(cache, key, previous);
        return previous;
    }

    /// <summary>Restores the mark <see cref="Enter"/> returned (after a factory called inline returned its task).</summary>
    public static void Exit(ComputingKey? previous) => Current.Value = previous;

    /// <summary>Whether the current flow is inside the factory of <paramref name="key"/> of <paramref name="cache"/>.</summary>
    public static bool Contains(object cache, string key)
    {
        for (var node = Current.Value; node is not null; node = node.Parent)
        {
            if (ReferenceEquals(node.Cache, cache) && string.Equals(node.Key, key, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
