namespace StampedeGuard;

/// <summary>The result of <see cref="IStampedeCache.TryGetAsync{T}(string, CancellationToken)"/>.</summary>
/// <typeparam name="T">The type of the value.</typeparam>
public readonly struct StampedeCacheLookup<T>
{
    /// <summary>Creates a lookup that found a value.</summary>
    /// <param name="value">The value.</param>
    /// <param name="isStale">Whether the value is past its fresh duration.</param>
    /// <param name="age">How long ago the value was stored.</param>
    public StampedeCacheLookup(T value, bool isStale, TimeSpan age)
    {
        HasValue = true;
        Value = value;
        IsStale = isStale;
        Age = age;
    }

    /// <summary>Gets whether a value was found.</summary>
    public bool HasValue { get; }

    /// <summary>Gets the value; <see langword="default"/> when <see cref="HasValue"/> is false.</summary>
    public T? Value { get; }

    /// <summary>Gets whether the value is past its fresh duration (in its stale or fail-safe window).</summary>
    public bool IsStale { get; }

    /// <summary>Gets how long ago the value was stored.</summary>
    public TimeSpan Age { get; }
}
