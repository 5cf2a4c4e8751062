namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>Which serializers a serializer test registers.</summary>
[Flags]
public enum SerializerCase
{
    /// <summary>None: the implementation's default (System.Text.Json).</summary>
    None = 0,

    /// <summary>An <c>IHybridCacheSerializerFactory</c> for every type.</summary>
    Factory = 1,

    /// <summary>An <c>IHybridCacheSerializer&lt;T&gt;</c> for the type under test.</summary>
    PerType = 2,
}
