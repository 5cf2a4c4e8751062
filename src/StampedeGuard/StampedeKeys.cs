namespace StampedeGuard;

/// <summary>
/// The rules for keys and tags, the same as Microsoft's <c>HybridCache</c>: a key is not null, empty or white space,
/// is at most the configured maximum length, and contains no control character (U+0000 to U+001F) and no lone
/// surrogate (it must be valid UTF-16, so it reads back the same from the distributed tier). A tag follows the same
/// content rules, and <c>"*"</c> is reserved for "every entry".
/// </summary>
/// <remarks>
/// <see cref="IStampedeCache"/> throws <see cref="ArgumentException"/> naming <c>key</c> for an invalid key; the
/// HybridCache adapter instead calls <see cref="IsValid"/> and bypasses the cache (runs the factory uncached), as
/// HybridCache does. A key is never silently changed.
/// </remarks>
public static class StampedeKeys
{
    /// <summary>The reserved tag meaning "every entry": <c>RemoveByTagAsync("*")</c> clears the cache.</summary>
    public const string AllTag = "*";

    /// <summary>Whether <paramref name="key"/> is a valid cache key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="maximumLength">The longest key accepted (<see cref="StampedeCacheOptions.MaximumKeyLength"/>).</param>
    /// <returns>True when the key may be used.</returns>
    public static bool IsValid(string? key, int maximumLength) => Problem(key, maximumLength) is null;

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="paramName"/> when <paramref name="key"/> is not a valid key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="maximumLength">The longest key accepted.</param>
    /// <param name="paramName">The argument name the exception carries.</param>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="key"/> is empty, white space, too long, or has invalid characters.</exception>
    public static void Validate(string? key, int maximumLength, string paramName = "key")
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (Problem(key, maximumLength) is { } problem)
        {
            throw new ArgumentException($"Invalid cache key: {problem}.", paramName);
        }
    }

    /// <summary>Validates tags and copies them (null stays null).</summary>
    internal static string[]? ValidateTags(IReadOnlyList<string>? tags, string paramName)
    {
        if (tags is null)
        {
            return null;
        }

        var copy = new string[tags.Count];
        for (var i = 0; i < copy.Length; i++)
        {
            var tag = tags[i];
            if (tag == AllTag)
            {
                throw new ArgumentException($"Tag {i} is \"*\", which is reserved for \"every entry\" (RemoveByTagAsync(\"*\") clears the cache).", paramName);
            }

            if (Problem(tag, int.MaxValue) is { } problem)
            {
                throw new ArgumentException($"Tag {i} is invalid: {problem}.", paramName);
            }

            copy[i] = tag;
        }

        return copy;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="paramName"/> for a tag that cannot be invalidated.</summary>
    internal static void ValidateTag(string? tag, string paramName)
    {
        ArgumentNullException.ThrowIfNull(tag, paramName);
        if (tag != AllTag && Problem(tag, int.MaxValue) is { } problem)
        {
            throw new ArgumentException($"Invalid tag: {problem}.", paramName);
        }
    }

    private static string? Problem(string? value, int maximumLength)
    {
        if (value is null)
        {
            return "it is null";
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            return value.Length == 0 ? "it is empty" : "it is white space only";
        }

        if (value.Length > maximumLength)
        {
            return $"it is {value.Length} characters long, the maximum is {maximumLength}";
        }

        // Vectorized scans first: a valid key costs two passes, no per-character branch.
        var span = value.AsSpan();
        if (span.IndexOfAnyInRange('\0', '\u001f') < 0 && span.IndexOfAnyInRange('\ud800', '\udfff') < 0)
        {
            return null;
        }

        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c < ' ')
            {
                return $"it contains the control character U+{(int)c:X4} at index {i}";
            }

            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                {
                    i++;
                    continue;
                }

                return $"it contains a lone surrogate U+{(int)c:X4} at index {i}";
            }
        }

        return null;
    }
}
