using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Memoization;
using StampedeGuard.Serialization;

namespace StampedeGuard.Tests.Serialization;

/// <summary>
/// The Native AOT path of the JSON serializer: options of a source-generated context are used through their type
/// information, a type they lack is refused so the next factory gets it, and Memoize takes the same options.
/// </summary>
public sealed class JsonContextTests
{
    [Fact]
    public void TryCreateSerializer_ContextOptions_WritesAndReadsThroughTheContext()
    {
        var factory = new JsonStampedeSerializerFactory(CamelCaseJson.Default.Options);

        factory.TryCreateSerializer<ListedRecord>(out var serializer).Should().BeTrue();
        var bytes = Write(serializer!, new ListedRecord(7, "seven"));

        (Encoding.UTF8.GetString(bytes), serializer!.Deserialize(new ReadOnlySequence<byte>(bytes))).Should().Be(("{\"id\":7,\"name\":\"seven\"}", new ListedRecord(7, "seven")));
    }

    [Fact]
    public void TryCreateSerializer_TypeTheContextDoesNotList_Refused()
    {
        var factory = new JsonStampedeSerializerFactory(CamelCaseJson.Default.Options);

        factory.TryCreateSerializer<UnlistedRecord>(out var serializer).Should().BeFalse();
        serializer.Should().BeNull();
    }

    [Fact]
    public void TryCreateSerializer_StringsAndBytesWithAContext_NeedNoJson()
    {
        var factory = new JsonStampedeSerializerFactory(CamelCaseJson.Default.Options);

        (factory.TryCreateSerializer<string>(out _), factory.TryCreateSerializer<byte[]>(out _)).Should().Be((true, true));
    }

    [Fact]
    public void TryCreateSerializer_OptionsWithoutResolver_GetReflectionWhereItIsEnabled()
    {
        var factory = new JsonStampedeSerializerFactory(new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });

        factory.TryCreateSerializer<UnlistedRecord>(out var serializer).Should().BeTrue();

        Encoding.UTF8.GetString(Write(serializer!, new UnlistedRecord(3))).Should().Be("{\"id\":3}");
    }

    [Fact]
    public void Resolver_ContextFactoryRefusesAType_TheDefaultsServeIt()
    {
        var services = new ServiceCollection();
        services.AddStampedeGuard(o => o.SerializerFactory = new JsonStampedeSerializerFactory(CamelCaseJson.Default.Options));
        using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<StampedeCache>().Options.SerializerFactory!;

        factory.TryCreateSerializer<ListedRecord>(out var listed).Should().BeTrue();
        factory.TryCreateSerializer<UnlistedRecord>(out var unlisted).Should().BeTrue();

        (Encoding.UTF8.GetString(Write(listed!, new ListedRecord(1, "a"))), Encoding.UTF8.GetString(Write(unlisted!, new UnlistedRecord(2))))
            .Should().Be(("{\"id\":1,\"name\":\"a\"}", "{\"Id\":2}"));
    }

    [Fact]
    public async Task GetOrCreateAsync_ContextSerializerOverDistributedCache_SecondNodeReadsTheRecord()
    {
        var store = new Microsoft.Extensions.Caching.Distributed.MemoryDistributedCache(Microsoft.Extensions.Options.Options.Create(new Microsoft.Extensions.Caching.Memory.MemoryDistributedCacheOptions()));
        var options = new StampedeCacheOptions { SerializerFactory = new JsonStampedeSerializerFactory(CamelCaseJson.Default.Options) };
        using var first = new StampedeCache(options, distributedStore: new StampedeGuard.Distributed.DistributedCacheStore(store));
        using var second = new StampedeCache(options, distributedStore: new StampedeGuard.Distributed.DistributedCacheStore(store));
        await first.GetOrCreateAsync("k", _ => ValueTask.FromResult(new ListedRecord(5, "five")));

        var read = await second.GetOrCreateAsync("k", _ => ValueTask.FromResult(new ListedRecord(0, "computed again")));

        read.Should().Be(new ListedRecord(5, "five"));
    }

    [Fact]
    public void Format_RecordThroughDefaultSettingsContext_SameKeyAsReflection()
    {
        var record = new ListedRecord(42, "a \"quoted\" é");

        StampedeMemoizeExtensions.Format(record, DefaultsJson.Default.Options).Should().Be(StampedeMemoizeExtensions.Format(record, JsonSerializerOptions.Default));
    }

    [Fact]
    public void Format_StringWithoutReflection_SameAsJsonSerializer()
    {
        const string Text = "quote \" backslash \\ tab \t é <script> \u2028";

        StampedeMemoizeExtensions.Format(Text, DefaultsJson.Default.Options).Should().Be(JsonSerializer.Serialize(Text));
    }

    [Fact]
    public async Task Memoize_ArgumentJsonOptions_EqualRecordsRunTheFunctionOnce()
    {
        using var cache = new StampedeCache();
        var runs = 0;
        var describe = cache.Memoize<ListedRecord, string>("describe", (r, _) => { Interlocked.Increment(ref runs); return ValueTask.FromResult(r.Name); }, DefaultsJson.Default.Options);

        await describe(new ListedRecord(1, "one"), default);
        var again = await describe(new ListedRecord(1, "one"), default);

        (again, runs).Should().Be(("one", 1));
    }

    private static byte[] Write<T>(Microsoft.Extensions.Caching.Hybrid.IHybridCacheSerializer<T> serializer, T value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        serializer.Serialize(value, buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
