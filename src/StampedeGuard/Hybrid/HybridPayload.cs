using System.Buffers;
using Microsoft.Extensions.Caching.Hybrid;

namespace StampedeGuard.Hybrid;

/// <summary>Helpers for <see cref="HybridPayload{T}"/>: recognising the type, and its L2 serializer (the bytes as they are).</summary>
internal static class HybridPayload
{
    public static bool IsPayloadType(Type type) => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(HybridPayload<>);

    /// <summary>The serializer of a <see cref="HybridPayload{T}"/> type: writes its bytes, reads them back into a new payload.</summary>
    /// <typeparam name="TPayload">A <see cref="HybridPayload{T}"/> type.</typeparam>
    public static IHybridCacheSerializer<TPayload> CreatePassThroughSerializer<TPayload>() =>
        (IHybridCacheSerializer<TPayload>)Activator.CreateInstance(typeof(PassThrough<>).MakeGenericType(typeof(TPayload).GetGenericArguments()[0]))!;

    private sealed class PassThrough<T> : IHybridCacheSerializer<HybridPayload<T>>
    {
        public HybridPayload<T> Deserialize(ReadOnlySequence<byte> source) => new(source.ToArray());

        public void Serialize(HybridPayload<T> value, IBufferWriter<byte> target) => target.Write(value.Bytes);
    }
}
