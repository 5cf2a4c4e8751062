using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Hybrid;

namespace StampedeGuard.Serialization;

/// <summary>
/// The serializer factory <c>AddStampedeGuard</c> gives the engine: HybridCache's resolution order, most specific
/// first. For a type <c>T</c>: an <see cref="IHybridCacheSerializer{T}"/> registered in DI (<c>AddSerializer&lt;T&gt;</c>),
/// then <see cref="StampedeCacheOptions.SerializerFactory"/> if the application set one, then the registered
/// <see cref="IHybridCacheSerializerFactory"/> services, the last registered first (<c>AddSerializerFactory</c>), then
/// System.Text.Json (<see cref="JsonStampedeSerializerFactory"/>). The HybridCache adapter's byte payloads (values of
/// mutable types kept serialized in L1) are written to L2 as they are, so L2 holds what <c>T</c>'s serializer wrote.
/// </summary>
internal sealed class HybridSerializerResolver : IHybridCacheSerializerFactory
{
    private readonly IServiceProvider _services;
    private readonly IHybridCacheSerializerFactory? _configured;
    private readonly IHybridCacheSerializerFactory[] _registered;
    private readonly JsonStampedeSerializerFactory _fallback = new();

    public HybridSerializerResolver(IServiceProvider services, IHybridCacheSerializerFactory? configured)
    {
        _services = services;
        _configured = configured;
        var registered = services.GetServices<IHybridCacheSerializerFactory>().ToArray();
        Array.Reverse(registered);
        _registered = registered;
    }

    public bool TryCreateSerializer<T>([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IHybridCacheSerializer<T>? serializer)
    {
        if (HybridPayload.IsPayloadType(typeof(T)))
        {
            serializer = HybridPayload.PassThroughSerializer<T>();
            return true;
        }

        serializer = _services.GetService<IHybridCacheSerializer<T>>();
        if (serializer is not null || (_configured?.TryCreateSerializer(out serializer) ?? false))
        {
            return true;
        }

        foreach (var factory in _registered)
        {
            if (factory.TryCreateSerializer(out serializer))
            {
                return true;
            }
        }

        return _fallback.TryCreateSerializer(out serializer);
    }
}
