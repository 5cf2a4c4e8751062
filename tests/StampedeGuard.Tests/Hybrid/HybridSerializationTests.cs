using System.Buffers;
using System.Text;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Serialization;

namespace StampedeGuard.Tests.Hybrid;

/// <summary>
/// The default JSON serializer keeps what System.Text.Json's property-only defaults would lose (the silent data loss
/// of issue 8), and the DI resolution order: per type, then StampedeCacheOptions.SerializerFactory, then registered
/// factories (last first), then JSON.
/// </summary>
public sealed class HybridSerializationTests
{
    [Fact]
    public void JsonDefault_ValueTuple_RoundTripsItsFields() =>
        RoundTrip((42, "abc")).Should().Be((42, "abc"));

    [Fact]
    public void JsonDefault_DictionaryOfValueTuples_RoundTrips()
    {
        var at = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        var value = new Dictionary<string, (int, string, DateTime)> { ["a"] = (1, "one", at) };

        RoundTrip(value).Should().BeEquivalentTo(value);
    }

    [Fact]
    public void JsonDefault_FieldOnlyType_RoundTripsItsFields()
    {
        var back = RoundTrip(new FieldOnly { Number = 5, Text = "five" });

        (back.Number, back.Text).Should().Be((5, "five"));
    }

    [Fact]
    public void JsonDefault_PropertyType_UsesPascalCaseLikeHybridCache()
    {
        new JsonStampedeSerializerFactory().TryCreateSerializer<Named>(out var serializer).Should().BeTrue();
        var buffer = new ArrayBufferWriter<byte>();

        serializer!.Serialize(new Named { Name = "n" }, buffer);

        Encoding.UTF8.GetString(buffer.WrittenSpan).Should().Be("{\"Name\":\"n\"}", "HybridCache's default is JsonSerializerOptions.Default");
    }

    [Fact]
    public void JsonDefault_CamelCaseFromEarlierVersions_StillRead()
    {
        new JsonStampedeSerializerFactory().TryCreateSerializer<Named>(out var serializer).Should().BeTrue();

        serializer!.Deserialize(new ReadOnlySequence<byte>("{\"name\":\"n\"}"u8.ToArray())).Name.Should().Be("n");
    }

    [Fact]
    public void Resolver_PerTypeSerializer_BeatsOptionsFactoryAndRegisteredFactories()
    {
        using var provider = Provider(perType: true, optionsFactory: true);

        Serializer<int>(provider).Should().BeOfType<IntAsTextSerializer>();
    }

    [Fact]
    public void Resolver_OptionsFactory_BeatsRegisteredFactories()
    {
        using var provider = Provider(perType: false, optionsFactory: true);

        Serializer<int>(provider).Should().BeOfType<MarkerSerializer<int>>().Which.Marker.Should().Be("options");
    }

    [Fact]
    public void Resolver_RegisteredFactories_LastRegisteredFirst()
    {
        using var provider = Provider(perType: false, optionsFactory: false);

        Serializer<int>(provider).Should().BeOfType<MarkerSerializer<int>>().Which.Marker.Should().Be("last");
    }

    private static IHybridCacheSerializer<T> Serializer<T>(ServiceProvider provider)
    {
        var factory = provider.GetRequiredService<StampedeCache>().Options.SerializerFactory!;
        factory.TryCreateSerializer<T>(out var serializer).Should().BeTrue();
        return serializer!;
    }

    private static ServiceProvider Provider(bool perType, bool optionsFactory)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IHybridCacheSerializerFactory>(new MarkerFactory("first"));
        services.AddSingleton<IHybridCacheSerializerFactory>(new MarkerFactory("last"));
        if (perType)
        {
            services.AddSingleton<IHybridCacheSerializer<int>, IntAsTextSerializer>();
        }

        services.AddStampedeGuard(o => o.SerializerFactory = optionsFactory ? new MarkerFactory("options") : null);
        return services.BuildServiceProvider();
    }

    private static T RoundTrip<T>(T value)
    {
        new JsonStampedeSerializerFactory().TryCreateSerializer<T>(out var serializer).Should().BeTrue();
        var buffer = new ArrayBufferWriter<byte>();
        serializer!.Serialize(value, buffer);
        return serializer.Deserialize(new ReadOnlySequence<byte>(buffer.WrittenMemory));
    }

    public sealed class FieldOnly
    {
#pragma warning disable CA1051 // the point of the type
        public int Number;
        public string? Text;
#pragma warning restore CA1051
    }

    public sealed class Named
    {
        public string? Name { get; set; }
    }

    private sealed class MarkerFactory(string marker) : IHybridCacheSerializerFactory
    {
        public bool TryCreateSerializer<T>([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IHybridCacheSerializer<T>? serializer)
        {
            serializer = new MarkerSerializer<T>(marker);
            return true;
        }
    }

    private sealed class MarkerSerializer<T>(string marker) : IHybridCacheSerializer<T>
    {
        public string Marker { get; } = marker;

        public T Deserialize(ReadOnlySequence<byte> source) => throw new NotSupportedException();

        public void Serialize(T value, IBufferWriter<byte> target) => throw new NotSupportedException();
    }
}
