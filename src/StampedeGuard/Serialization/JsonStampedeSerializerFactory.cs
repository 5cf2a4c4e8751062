using System.Buffers;
using System.Text;
using System.Text.Json;
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
public sealed class JsonStampedeSerializerFactory : IHybridCacheSerializerFactory
{
    // HybridCache's defaults, read case-insensitively: entries written by earlier versions (camelCase web defaults)
    // still in L2 during an upgrade are read, not silently defaulted. What is written is exactly HybridCache's.
    private static readonly JsonSerializerOptions Properties = new(JsonSerializerOptions.Default) { PropertyNameCaseInsensitive = true };
    private static readonly JsonSerializerOptions WithFields = new(Properties) { IncludeFields = true };

    private readonly JsonSerializerOptions? _options;

    /// <summary>Creates the factory.</summary>
    /// <param name="options">JSON options used for every type as given; HybridCache's defaults (see the class remarks) when null.</param>
    public JsonStampedeSerializerFactory(JsonSerializerOptions? options = null) => _options = options;

    /// <inheritdoc />
    public bool TryCreateSerializer<T>([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IHybridCacheSerializer<T>? serializer)
    {
        if (typeof(T) == typeof(string))
        {
            serializer = (IHybridCacheSerializer<T>)(object)StringSerializer.Instance;
        }
        else if (typeof(T) == typeof(byte[]))
        {
            serializer = (IHybridCacheSerializer<T>)(object)BytesSerializer.Instance;
        }
        else
        {
            serializer = new JsonSerializer<T>(_options ?? (FieldOnlyTypes.Contains(typeof(T)) ? WithFields : Properties));
        }

        return true;
    }

    private sealed class JsonSerializer<T>(JsonSerializerOptions options) : IHybridCacheSerializer<T>
    {
        public T Deserialize(ReadOnlySequence<byte> source)
        {
            var reader = new Utf8JsonReader(source);
            return JsonSerializer.Deserialize<T>(ref reader, options)!;
        }

        public void Serialize(T value, IBufferWriter<byte> target)
        {
            using var writer = new Utf8JsonWriter(target);
            JsonSerializer.Serialize(writer, value, options);
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
