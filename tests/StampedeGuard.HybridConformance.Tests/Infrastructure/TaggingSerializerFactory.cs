using System.Diagnostics.CodeAnalysis;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>A serializer factory whose serializers mark their payloads with <see cref="Marker"/>.</summary>
public sealed class TaggingSerializerFactory(byte marker) : IHybridCacheSerializerFactory
{
    private int _created;

    public byte Marker { get; } = marker;

    public int Created => Volatile.Read(ref _created);

    public bool TryCreateSerializer<T>([NotNullWhen(true)] out IHybridCacheSerializer<T>? serializer)
    {
        Interlocked.Increment(ref _created);
        serializer = new TaggingSerializer<T>(Marker);
        return true;
    }
}
