using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace StampedeGuard.Memoization;

/// <summary>
/// Memoization for application code (DiskCache's <c>@cache.memoize</c>): wraps a function into a cached one whose key
/// is <c>name(arg1,arg2,...)</c>, with every stampede protection of <see cref="IStampedeCache.GetOrCreateAsync{TState, T}"/>.
/// Arguments are formatted invariantly: strings are JSON-quoted, primitives and other <see cref="IFormattable"/>s use
/// the invariant culture, anything else is serialized with System.Text.Json. Keys are therefore stable across processes.
/// </summary>
/// <remarks>
/// Native AOT and trimming: the overloads without JSON options serialize other arguments with System.Text.Json's
/// reflection, and say so (<see cref="RequiresUnreferencedCodeAttribute"/>, <see cref="RequiresDynamicCodeAttribute"/>).
/// The overloads taking <see cref="JsonSerializerOptions"/> read the arguments' JSON contracts from those options (a
/// source-generated context's <c>AppJson.Default.Options</c>) and make the same keys when the options write the
/// same JSON as System.Text.Json's defaults.
/// </remarks>
public static class StampedeMemoizeExtensions
{
    private const string ReflectionMessage =
        "Arguments other than strings, primitives and other invariantly formattable values are serialized with System.Text.Json's " +
        "reflection. Use the overload that takes JsonSerializerOptions (a source-generated JsonSerializerContext's) under trimming or Native AOT.";

    /// <summary>Wraps a one-argument function.</summary>
    /// <typeparam name="TArg">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache.</param>
    /// <param name="name">The function's name, the key prefix. Not null or empty.</param>
    /// <param name="function">The function to memoize.</param>
    /// <param name="options">Entry options for every call.</param>
    /// <returns>The memoized function.</returns>
    [RequiresUnreferencedCode(ReflectionMessage)]
    [RequiresDynamicCode(ReflectionMessage)]
    public static Func<TArg, CancellationToken, ValueTask<TResult>> Memoize<TArg, TResult>(this IStampedeCache cache, string name, Func<TArg, CancellationToken, ValueTask<TResult>> function, StampedeCacheEntryOptions? options = null) =>
        Memoize(cache, name, function, JsonSerializerOptions.Default, options);

    /// <summary>Wraps a one-argument function, serializing arguments through <paramref name="argumentJsonOptions"/> (trimming- and Native AOT-safe).</summary>
    /// <typeparam name="TArg">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache.</param>
    /// <param name="name">The function's name, the key prefix. Not null or empty.</param>
    /// <param name="function">The function to memoize.</param>
    /// <param name="argumentJsonOptions">
    /// JSON options whose <see cref="JsonSerializerOptions.TypeInfoResolver"/> knows the argument types that are not strings,
    /// primitives or other invariantly formattable values (a source-generated context's <c>AppJson.Default.Options</c>).
    /// </param>
    /// <param name="options">Entry options for every call.</param>
    /// <returns>The memoized function.</returns>
    public static Func<TArg, CancellationToken, ValueTask<TResult>> Memoize<TArg, TResult>(this IStampedeCache cache, string name, Func<TArg, CancellationToken, ValueTask<TResult>> function, JsonSerializerOptions argumentJsonOptions, StampedeCacheEntryOptions? options = null)
    {
        Validate(cache, name, function);
        ArgumentNullException.ThrowIfNull(argumentJsonOptions);
        return (arg, cancellationToken) => cache.GetOrCreateAsync<(Func<TArg, CancellationToken, ValueTask<TResult>> function, TArg arg), TResult>(
            Key(name, Format(arg, argumentJsonOptions)), (function, arg), static (s, _, ct) => s.function(s.arg, ct), options, cancellationToken);
    }

    /// <summary>Wraps a two-argument function.</summary>
    /// <typeparam name="TArg1">The first argument type.</typeparam>
    /// <typeparam name="TArg2">The second argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache.</param>
    /// <param name="name">The function's name, the key prefix. Not null or empty.</param>
    /// <param name="function">The function to memoize.</param>
    /// <param name="options">Entry options for every call.</param>
    /// <returns>The memoized function.</returns>
    [RequiresUnreferencedCode(ReflectionMessage)]
    [RequiresDynamicCode(ReflectionMessage)]
    public static Func<TArg1, TArg2, CancellationToken, ValueTask<TResult>> Memoize<TArg1, TArg2, TResult>(this IStampedeCache cache, string name, Func<TArg1, TArg2, CancellationToken, ValueTask<TResult>> function, StampedeCacheEntryOptions? options = null) =>
        Memoize(cache, name, function, JsonSerializerOptions.Default, options);

    /// <summary>Wraps a two-argument function, serializing arguments through <paramref name="argumentJsonOptions"/> (trimming- and Native AOT-safe).</summary>
    /// <typeparam name="TArg1">The first argument type.</typeparam>
    /// <typeparam name="TArg2">The second argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache.</param>
    /// <param name="name">The function's name, the key prefix. Not null or empty.</param>
    /// <param name="function">The function to memoize.</param>
    /// <param name="argumentJsonOptions">
    /// JSON options whose <see cref="JsonSerializerOptions.TypeInfoResolver"/> knows the argument types that are not strings,
    /// primitives or other invariantly formattable values (a source-generated context's <c>AppJson.Default.Options</c>).
    /// </param>
    /// <param name="options">Entry options for every call.</param>
    /// <returns>The memoized function.</returns>
    public static Func<TArg1, TArg2, CancellationToken, ValueTask<TResult>> Memoize<TArg1, TArg2, TResult>(this IStampedeCache cache, string name, Func<TArg1, TArg2, CancellationToken, ValueTask<TResult>> function, JsonSerializerOptions argumentJsonOptions, StampedeCacheEntryOptions? options = null)
    {
        Validate(cache, name, function);
        ArgumentNullException.ThrowIfNull(argumentJsonOptions);
        return (arg1, arg2, cancellationToken) => cache.GetOrCreateAsync<(Func<TArg1, TArg2, CancellationToken, ValueTask<TResult>> function, TArg1 arg1, TArg2 arg2), TResult>(
            Key(name, Format(arg1, argumentJsonOptions), Format(arg2, argumentJsonOptions)), (function, arg1, arg2), static (s, _, ct) => s.function(s.arg1, s.arg2, ct), options, cancellationToken);
    }

    /// <summary>Wraps a three-argument function.</summary>
    /// <typeparam name="TArg1">The first argument type.</typeparam>
    /// <typeparam name="TArg2">The second argument type.</typeparam>
    /// <typeparam name="TArg3">The third argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache.</param>
    /// <param name="name">The function's name, the key prefix. Not null or empty.</param>
    /// <param name="function">The function to memoize.</param>
    /// <param name="options">Entry options for every call.</param>
    /// <returns>The memoized function.</returns>
    [RequiresUnreferencedCode(ReflectionMessage)]
    [RequiresDynamicCode(ReflectionMessage)]
    public static Func<TArg1, TArg2, TArg3, CancellationToken, ValueTask<TResult>> Memoize<TArg1, TArg2, TArg3, TResult>(this IStampedeCache cache, string name, Func<TArg1, TArg2, TArg3, CancellationToken, ValueTask<TResult>> function, StampedeCacheEntryOptions? options = null) =>
        Memoize(cache, name, function, JsonSerializerOptions.Default, options);

    /// <summary>Wraps a three-argument function, serializing arguments through <paramref name="argumentJsonOptions"/> (trimming- and Native AOT-safe).</summary>
    /// <typeparam name="TArg1">The first argument type.</typeparam>
    /// <typeparam name="TArg2">The second argument type.</typeparam>
    /// <typeparam name="TArg3">The third argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="cache">The cache.</param>
    /// <param name="name">The function's name, the key prefix. Not null or empty.</param>
    /// <param name="function">The function to memoize.</param>
    /// <param name="argumentJsonOptions">
    /// JSON options whose <see cref="JsonSerializerOptions.TypeInfoResolver"/> knows the argument types that are not strings,
    /// primitives or other invariantly formattable values (a source-generated context's <c>AppJson.Default.Options</c>).
    /// </param>
    /// <param name="options">Entry options for every call.</param>
    /// <returns>The memoized function.</returns>
    public static Func<TArg1, TArg2, TArg3, CancellationToken, ValueTask<TResult>> Memoize<TArg1, TArg2, TArg3, TResult>(this IStampedeCache cache, string name, Func<TArg1, TArg2, TArg3, CancellationToken, ValueTask<TResult>> function, JsonSerializerOptions argumentJsonOptions, StampedeCacheEntryOptions? options = null)
    {
        Validate(cache, name, function);
        ArgumentNullException.ThrowIfNull(argumentJsonOptions);
        return (arg1, arg2, arg3, cancellationToken) => cache.GetOrCreateAsync<(Func<TArg1, TArg2, TArg3, CancellationToken, ValueTask<TResult>> function, TArg1 arg1, TArg2 arg2, TArg3 arg3), TResult>(
            Key(name, Format(arg1, argumentJsonOptions), Format(arg2, argumentJsonOptions), Format(arg3, argumentJsonOptions)), (function, arg1, arg2, arg3), static (s, _, ct) => s.function(s.arg1, s.arg2, s.arg3, ct), options, cancellationToken);
    }

    /// <summary>Formats one argument the way memoized keys do.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="value">The argument.</param>
    /// <param name="json">The JSON options for an argument that is not a string, primitive or other invariantly formattable value.</param>
    /// <returns>Its key form.</returns>
    internal static string Format<T>(T value, JsonSerializerOptions json) => value switch
    {
        null => "null",
        string s => JsonString(s),
        bool b => b ? "true" : "false",
        DateTime d => d.ToString("O", CultureInfo.InvariantCulture), // round-trip: every tick and the Kind
        DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
        TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
        IFormattable f when value.GetType().IsPrimitive || value is decimal or Guid or Enum => f.ToString(null, CultureInfo.InvariantCulture),
        _ => JsonSerializer.Serialize(value, (JsonTypeInfo<T>)json.GetTypeInfo(typeof(T))),
    };

    /// <summary>A string as a JSON string literal, as <c>JsonSerializer.Serialize(string)</c> writes it, without reflection.</summary>
    private static string JsonString(string value)
    {
        var buffer = new ArrayBufferWriter<byte>(value.Length + 2);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStringValue(value);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// <c>name(args)</c>; when the arguments are long, <c>name#sha256(args)</c>, so any argument fits
    /// <see cref="StampedeCacheOptions.MaximumKeyLength"/> and keys stay stable across processes.
    /// </summary>
    private static string Key(string name, params ReadOnlySpan<string> args)
    {
        var joined = string.Join(',', args);
        if (joined.Length <= 200)
        {
            return $"{name}({joined})";
        }

        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(joined));
        return $"{name}#{Convert.ToHexString(hash)}";
    }

    private static void Validate(IStampedeCache cache, string name, Delegate function)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(function);
    }
}
