using System.Buffers;
using Microsoft.Extensions.Caching.Hybrid;

namespace StampedeGuard.Hybrid;

/// <summary>
/// Helpers for <see cref="HybridPayload{T}"/>: whether the adapter keeps a type's values as payloads, recognising the
/// type, and its L2 serializer (the bytes as they are). The serializer of <c>HybridPayload&lt;T&gt;</c> is made for the
/// <c>T</c> the adapter names, when it first asks <see cref="Holds{T}"/>: never built from a <see cref="Type"/> at run
/// time, so it works under Native AOT.
/// </summary>
internal static class HybridPayload
{
    /// <summary>
    /// Whether the adapter keeps values of <typeparamref name="T"/> as payloads (the type is not immutable, see
    /// <see cref="ImmutableType{T}"/>). The first ask also makes <c>HybridPayload&lt;T&gt;</c>'s serializer known to
    /// <see cref="PassThroughSerializer{TPayload}"/>; the adapter asks before any <c>HybridPayload&lt;T&gt;</c> reaches the
    /// engine, so the engine never needs one that is not known yet.
    /// </summary>
    /// <typeparam name="T">The type of the cached value.</typeparam>
    /// <returns><see langword="true"/> when values of <typeparamref name="T"/> are kept as payloads.</returns>
    public static bool Holds<T>() => Payloads<T>.Held;

    /// <summary>Gets whether <paramref name="type"/> is a <see cref="HybridPayload{T}"/> type.</summary>
    /// <param name="type">The type.</param>
    /// <returns>Whether it is one.</returns>
    public static bool IsPayloadType(Type type) => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(HybridPayload<>);

    /// <summary>The serializer of a <see cref="HybridPayload{T}"/> type: writes its bytes, reads them back into a new payload.</summary>
    /// <typeparam name="TPayload">A <see cref="HybridPayload{T}"/> type.</typeparam>
    /// <returns>The serializer.</returns>
    /// <exception cref="InvalidOperationException">The adapter never asked <see cref="Holds{T}"/> for its <c>T</c> (a bug).</exception>
    public static IHybridCacheSerializer<TPayload> PassThroughSerializer<TPayload>() =>
        PassThroughOf<TPayload>.Instance ?? throw new InvalidOperationException($"No pass-through serializer is known for {typeof(TPayload)}: HybridPayload.Holds<T>() was not asked first.");

    private static class Payloads<T>
    {
        public static readonly bool Held = !ImmutableType<T>.IsImmutable && Register();

        private static bool Register()
        {
            PassThroughOf<HybridPayload<T>>.Instance = new PassThrough<T>();
            return true;
        }
    }

    private static class PassThroughOf<TPayload>
    {
        public static IHybridCacheSerializer<TPayload>? Instance;
    }

    private sealed class PassThrough<T> : IHybridCacheSerializer<HybridPayload<T>>
    {
        public HybridPayload<T> Deserialize(ReadOnlySequence<byte> source) => new(source.ToArray());

        public void Serialize(HybridPayload<T> value, IBufferWriter<byte> target) => target.Write(value.Bytes);
    }
}
