using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Caching.Hybrid;

namespace StampedeGuard.Serialization;

/// <summary>
/// The default serializer factory: System.Text.Json for every type, with <see cref="string"/> stored as UTF-8 and
/// <c>byte[]</c> stored raw. Implements Microsoft's <see cref="IHybridCacheSerializerFactory"/>. Without explicit
/// options it writes what HybridCache's default serializer writes: <see cref="JsonSerializerOptions.Default"/>, and fields
/// included for types whose data lives in fields (value tuples, field-only types, collections of them), so no value
/// comes back from the distributed tier as its default. It reads property names case-insensitively, so values written
/// by earlier StampedeGuard versions (camelCase) are still read.
/// </summary>
/// <remarks>
/// <para><b>Native AOT and trimming</b>: those defaults need System.Text.Json's reflection, which AOT and trimmed
/// applications turn off (<see cref="JsonSerializer.IsReflectionEnabledByDefault"/>). There, give the factory the options
/// of a source-generated <c>JsonSerializerContext</c> that lists the cached types:
/// <c>new JsonStampedeSerializerFactory(AppJson.Default.Options)</c> (or options whose
/// <see cref="JsonSerializerOptions.TypeInfoResolver"/> is the context). Values are then written and read through the
/// context's <see cref="JsonTypeInfo{T}"/>, with no reflection.</para>
/// <para>A type the options' resolver does not know is refused (<see cref="TryCreateSerializer{T}"/> returns
/// <see langword="false"/>), so the next serializer factory in line gets it: under <c>AddStampedeGuard</c>, the
/// registered factories and finally these defaults, which serve it where reflection is enabled. Options without a
/// resolver get System.Text.Json's reflection-based one where reflection is enabled, and refuse every type where it is not.
/// <see cref="string"/> and <c>byte[]</c> never need JSON and always work.</para>
/// </remarks>
public sealed class JsonStampedeSerializerFactory : IHybridCacheSerializerFactory
{
    private const string ReflectionJustification =
        "Reached only while System.Text.Json's reflection is enabled (JsonSerializer.IsReflectionEnabledByDefault): a feature " +
        "switch that Native AOT and trimmed applications turn off, and the trimmer then removes this branch. An application " +
        "that turns reflection back on in a trimmed build takes System.Text.Json's own warning for doing so.";

    // HybridCache's defaults, read case-insensitively: entries written by earlier versions (camelCase web defaults)
    // still in L2 during an upgrade are read, not silently defaulted. What is written is exactly HybridCache's.
    // Built on first use, and only where System.Text.Json's reflection is enabled.
    private static JsonSerializerOptions? _properties;
    private static JsonSerializerOptions? _withFields;

    private readonly JsonSerializerOptions? _options;

    /// <summary>Creates the factory.</summary>
    /// <param name="options">
    /// JSON options used for every type as given, such as a source-generated context's <c>AppJson.Default.Options</c>
    /// (the way to use the factory under Native AOT: see the class remarks); HybridCache's defaults (see the class summary) when null.
    /// </param>
    public JsonStampedeSerializerFactory(JsonSerializerOptions? options = null) => _options = options;

    /// <inheritdoc />
    /// <remarks>Returns <see langword="false"/> for a type the JSON options have no type information for (see the class remarks).</remarks>
    public bool TryCreateSerializer<T>([NotNullWhen(true)] out IHybridCacheSerializer<T>? serializer)
    {
        if (typeof(T) == typeof(string))
        {
            serializer = (IHybridCacheSerializer<T>)(object)StringSerializer.Instance;
            return true;
        }

        if (typeof(T) == typeof(byte[]))
        {
            serializer = (IHybridCacheSerializer<T>)(object)BytesSerializer.Instance;
            return true;
        }

        var options = JsonSerializer.IsReflectionEnabledByDefault ? WithReflection(typeof(T), _options) : _options;
        if (options is not null && options.TypeInfoResolver is not null && options.TryGetTypeInfo(typeof(T), out var typeInfo))
        {
            serializer = new JsonSerializer<T>((JsonTypeInfo<T>)typeInfo);
            return true;
        }

        serializer = null;
        return false;
    }

    /// <summary>
    /// The message of the error a cache reports when no serializer factory serves <paramref name="type"/>: under Native
    /// AOT or trimming, a type missing from the application's <c>JsonSerializerContext</c>.
    /// </summary>
    /// <param name="type">The value type.</param>
    /// <returns>The message.</returns>
    internal static string NoSerializerMessage(Type type) =>
        $"No serializer for {type}. " + (JsonSerializer.IsReflectionEnabledByDefault
            ? "The configured serializer factory refused the type."
            : "System.Text.Json's reflection is off (Native AOT or trimming): list the type in a source-generated " +
              "JsonSerializerContext and give its options to the cache, e.g. StampedeCacheOptions.SerializerFactory = " +
              "new JsonStampedeSerializerFactory(AppJson.Default.Options).");

    /// <summary>
    /// The options to use where System.Text.Json's reflection is enabled: the given ones (given a reflection-based resolver
    /// when they have none, as <see cref="JsonSerializer"/>'s reflection overloads would), else HybridCache's defaults.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026:RequiresUnreferencedCode", Justification = ReflectionJustification)]
    [UnconditionalSuppressMessage("AOT", "IL3050:RequiresDynamicCode", Justification = ReflectionJustification)]
    private static JsonSerializerOptions WithReflection(Type type, JsonSerializerOptions? options)
    {
        if (options is not null)
        {
            if (options.TypeInfoResolver is null)
            {
                options.MakeReadOnly(populateMissingResolver: true);
            }

            return options;
        }

        if (FieldOnlyTypes.Contains(type))
        {
            return _withFields ??= ReadOnly(new JsonSerializerOptions(DefaultOptions()) { IncludeFields = true });
        }

        return DefaultOptions();
    }

    [RequiresUnreferencedCode("System.Text.Json's reflection-based defaults.")]
    [RequiresDynamicCode("System.Text.Json's reflection-based defaults.")]
    private static JsonSerializerOptions DefaultOptions() =>
        _properties ??= ReadOnly(new JsonSerializerOptions(JsonSerializerOptions.Default) { PropertyNameCaseInsensitive = true });

    private static JsonSerializerOptions ReadOnly(JsonSerializerOptions options)
    {
        options.MakeReadOnly(); // its type information is then cached, not built again per serializer
        return options;
    }

    private sealed class JsonSerializer<T>(JsonTypeInfo<T> typeInfo) : IHybridCacheSerializer<T>
    {
        public T Deserialize(ReadOnlySequence<byte> source)
        {
            var reader = new Utf8JsonReader(source);
            return JsonSerializer.Deserialize(ref reader, typeInfo)!;
        }

        public void Serialize(T value, IBufferWriter<byte> target)
        {
            using var writer = new Utf8JsonWriter(target);
            JsonSerializer.Serialize(writer, value, typeInfo);
        }
    }

    private sealed class StringSerializer : IHybridCacheSerializer<string>
    {
        public static readonly StringSerializer Instance = new();

        public string Deserialize(ReadOnlySequence<byte> source) => Encoding.UTF8.GetString(source);

        public void Serialize(string value, IBufferWriter<byte> target) => Encoding.UTF8.GetBytes(value, target);
    }

    private sealed class BytesSerializer : IHybridCacheSerializer<byte[]>
    {
        public static readonly BytesSerializer Instance = new();

        public byte[] Deserialize(ReadOnlySequence<byte> source) => source.ToArray();

        public void Serialize(byte[] value, IBufferWriter<byte> target) => target.Write(value);
    }
}
