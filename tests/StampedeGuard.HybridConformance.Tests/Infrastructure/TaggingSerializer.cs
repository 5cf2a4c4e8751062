using System.Buffers;
using System.Text.Json;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>
/// A JSON serializer (fields included) that prefixes its payload with a marker byte, so a test can tell which serializer
/// wrote a value, and counts its calls.
/// </summary>
public sealed class TaggingSerializer<T>(byte marker) : IHybridCacheSerializer<T>
{
    private static readonly JsonSerializerOptions Options = new() { IncludeFields = true };
    private int _reads;
    private int _writes;

    public int Reads => Volatile.Read(ref _reads);

    public int Writes => Volatile.Read(ref _writes);

    public byte Marker { get; } = marker;

    public T Deserialize(ReadOnlySequence<byte> source)
    {
        Interlocked.Increment(ref _reads);
        source.FirstSpan[0].Should().Be(Marker, "the payload was written by this serializer");
        var reader = new Utf8JsonReader(source.Slice(1));
        return JsonSerializer.Deserialize<T>(ref reader, Options)!;
    }

    public void Serialize(T value, IBufferWriter<byte> target)
    {
        Interlocked.Increment(ref _writes);
        target.GetSpan(1)[0] = Marker;
        target.Advance(1);
        using var writer = new Utf8JsonWriter(target);
        JsonSerializer.Serialize(writer, value, Options);
    }
}
