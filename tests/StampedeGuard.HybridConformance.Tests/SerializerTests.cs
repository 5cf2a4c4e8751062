using Microsoft.Extensions.Caching.Distributed;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's SerializerTests and the serializer parts of ServiceConstructionTests, observed through a shared L2: a
/// value written by one cache is read by a second one (its own L1, same L2), so it went through the serializer.
/// Default System.Text.Json must keep tuples, field-only types and records; a per-type serializer beats a factory,
/// which beats the default.
/// </summary>
public sealed class SerializerTests
{
    [Theory]
    [Both]
    public async Task RoundTrip_String_Kept(Implementation implementation)
    {
        (await RoundTrip(implementation, "héllo wörld ✓ 日本")).Should().Be("héllo wörld ✓ 日本");
        (await RoundTrip(implementation, string.Empty)).Should().BeEmpty();
    }

    [Theory]
    [Both]
    public async Task RoundTrip_ByteArray_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, new byte[] { 0, 1, 255, 128 })).Should().Equal(0, 1, 255, 128);

    [Theory]
    [Both]
    public async Task RoundTrip_PropertyPoco_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, new MutablePoco { Value = "x" })).Value.Should().Be("x");

    [Theory]
    [Both]
    public async Task RoundTrip_Tuple_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, Tuple.Create(42, "abc"))).Should().Be(Tuple.Create(42, "abc"));

    [Theory]
    [Both]
    public async Task RoundTrip_ValueTuple_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, (42, "abc"))).Should().Be((42, "abc"));

    [Theory]
    [Both]
    public async Task RoundTrip_NamedValueTuple_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, (Id: 42, Name: "abc"))).Should().Be((42, "abc"));

    [Theory]
    [Both]
    public async Task RoundTrip_ValueTupleList_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, new List<(int, string)> { (1, "a"), (2, "b") })).Should().Equal((1, "a"), (2, "b"));

    [Theory]
    [Both]
    public async Task RoundTrip_ValueTupleArray_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, new[] { (1, "a"), (2, "b") })).Should().Equal((1, "a"), (2, "b"));

    [Theory]
    [Both]
    public async Task RoundTrip_DictionaryOfValueTuples_Kept(Implementation implementation)
    {
        var at = new DateTime(2026, 5, 6, 7, 8, 9, DateTimeKind.Utc);
        var value = new Dictionary<string, (int, string, DateTime)> { ["a"] = (1, "one", at), ["b"] = (2, "two", at) };

        (await RoundTrip(implementation, value)).Should().BeEquivalentTo(value);
    }

    [Theory]
    [Both]
    public async Task RoundTrip_FieldOnlyPoco_Kept(Implementation implementation)
    {
        var back = await RoundTrip(implementation, new FieldOnlyPoco { X = 1, Y = "why" });

        (back.X, back.Y).Should().Be((1, "why"));
    }

    [Theory]
    [Both]
    public async Task RoundTrip_MixedPoco_PropertiesKept(Implementation implementation)
    {
        // HybridCache's default options include fields only for types whose data is in fields: here the property is kept.
        (await RoundTrip(implementation, new MixedPoco { Property = "p", Field = "f" })).Property.Should().Be("p");
    }

    [Theory]
    [Both]
    public async Task RoundTrip_Record_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, new PositionalRecord(7, "seven", [1, 2]))).Should().BeEquivalentTo(new PositionalRecord(7, "seven", [1, 2]));

    [Theory]
    [Both]
    public async Task RoundTrip_Struct_Kept(Implementation implementation) =>
        (await RoundTrip(implementation, new PropertyStruct { A = 3, B = "bee" })).Should().Be(new PropertyStruct { A = 3, B = "bee" });

    [Theory]
    [Both(SerializerCase.Factory, 1)]
    [Both(SerializerCase.PerType, 2)]
    [Both(SerializerCase.Factory | SerializerCase.PerType, 2)]
    public async Task RoundTrip_RegisteredSerializers_MostSpecificWins(Implementation implementation, SerializerCase registered, int expectedMarker)
    {
        var l2 = new SharedL2();
        var factory = new TaggingSerializerFactory(1);
        var perType = new TaggingSerializer<MutablePoco>(2);
        void Services(IServiceCollection services)
        {
            services.AddSingleton<IDistributedCache>(l2);
            if (registered.HasFlag(SerializerCase.Factory))
            {
                services.AddSingleton<IHybridCacheSerializerFactory>(factory);
            }

            if (registered.HasFlag(SerializerCase.PerType))
            {
                services.AddSingleton<IHybridCacheSerializer<MutablePoco>>(perType);
            }
        }

        var back = await RoundTrip(implementation, new MutablePoco { Value = "v" }, l2, Services);

        back.Value.Should().Be("v");
        (expectedMarker == 2 ? perType.Writes : factory.Created).Should().BeGreaterThan(0);
        if (expectedMarker == 2)
        {
            perType.Reads.Should().BeGreaterThan(0, "the second cache read the payload with the per-type serializer");
        }
    }

    [Theory]
    [Both]
    public async Task RoundTrip_TwoFactories_LastRegisteredWins(Implementation implementation)
    {
        var l2 = new SharedL2();
        var first = new TaggingSerializerFactory(1);
        var last = new TaggingSerializerFactory(3);

        var back = await RoundTrip(implementation, new MutablePoco { Value = "v" }, l2, s =>
        {
            s.AddSingleton<IDistributedCache>(l2);
            s.AddSingleton<IHybridCacheSerializerFactory>(first);
            s.AddSingleton<IHybridCacheSerializerFactory>(last);
        });

        back.Value.Should().Be("v");
        last.Created.Should().BeGreaterThan(0);
        first.Created.Should().Be(0);
    }

    /// <summary>Writes through one cache, reads through a second sharing only the L2, and returns what it read.</summary>
    private static Task<T> RoundTrip<T>(Implementation implementation, T value)
    {
        var l2 = new SharedL2();
        return RoundTrip(implementation, value, l2, s => s.AddSingleton<IDistributedCache>(l2));
    }

    private static async Task<T> RoundTrip<T>(Implementation implementation, T value, SharedL2 l2, Action<IServiceCollection> services)
    {
        using var writer = HybridHost.Create(implementation, services);
        using var reader = HybridHost.Create(implementation, services, clock: writer.Clock);

        await writer.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(value));
        await l2.StoredAsync(1); // Microsoft's implementation writes L2 in the background
        return await reader.Cache.GetOrCreateAsync<T>("key", _ => throw new InvalidOperationException("the value should come from L2"));
    }

    public sealed class FieldOnlyPoco
    {
        public int X;
        public string? Y;
    }

    public sealed class MixedPoco
    {
        public string? Field;

        public string? Property { get; set; }
    }

    public sealed record PositionalRecord(int Id, string Name, int[] Items);

    public struct PropertyStruct
    {
        public int A { get; set; }

        public string? B { get; set; }
    }
}
