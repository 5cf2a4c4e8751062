using Microsoft.Extensions.Caching.Distributed;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's ServiceConstructionTests and SampleUsage, through the public surface: the service resolves as a
/// singleton, serializers added with the HybridCache builder are used, HybridCacheOptions limits are honoured.
/// </summary>
public sealed class ServiceTests
{
    [Theory]
    [Both]
    public void GetService_HybridCache_ResolvesOneSingleton(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);

        host.Cache.Should().NotBeNull().And.BeSameAs(host.Services.GetRequiredService<HybridCache>());
    }

    [Theory]
    [Both]
    public async Task AddSerializer_OnTheHybridCacheBuilder_IsUsedForItsType(Implementation implementation)
    {
        var l2 = new SharedL2();
        var serializer = new TaggingSerializer<MutablePoco>(9);
        void Services(IServiceCollection services)
        {
            services.AddSingleton<IDistributedCache>(l2);
            services.AddHybridCache().AddSerializer(serializer);
        }

        using var writer = HybridHost.Create(implementation, Services);
        using var reader = HybridHost.Create(implementation, Services, clock: writer.Clock);
        await writer.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(new MutablePoco { Value = "v" }));
        await l2.StoredAsync(1); // Microsoft's implementation writes L2 in the background

        (await reader.Cache.GetOrCreateAsync<MutablePoco>("key", _ => throw new InvalidOperationException("from L2"))).Value.Should().Be("v");
        serializer.Writes.Should().BeGreaterThan(0);
        serializer.Reads.Should().BeGreaterThan(0);
    }

    [Theory]
    [Both]
    public async Task AddSerializerFactory_OnTheHybridCacheBuilder_IsUsed(Implementation implementation)
    {
        var l2 = new SharedL2();
        var factory = new TaggingSerializerFactory(4);
        using var host = HybridHost.Create(implementation, s =>
        {
            s.AddSingleton<IDistributedCache>(l2);
            s.AddHybridCache().AddSerializerFactory(factory);
        });

        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(new MutablePoco { Value = "v" }))).Value.Should().Be("v");

        factory.Created.Should().BeGreaterThan(0);
    }

    [Theory]
    [Both]
    public async Task MaximumKeyLength_FromHybridCacheOptions_LongerKeysAreNotCached(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation, options: o => o.MaximumKeyLength = 4);
        var runs = 0;

        await host.Cache.GetOrCreateAsync("12345", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));
        await host.Cache.GetOrCreateAsync("12345", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));
        await host.Cache.GetOrCreateAsync("1234", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));
        await host.Cache.GetOrCreateAsync("1234", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));

        runs.Should().Be(3, "the 5-character key ran twice, the 4-character key once");
    }

    [Theory]
    [Both]
    public async Task MaximumPayloadBytes_FromHybridCacheOptions_LargerValuesStayOutOfL2(Implementation implementation)
    {
        using var nodes = new TwoNodes(implementation);
        nodes.One.Dispose();
        using var small = HybridHost.Create(implementation, s => s.AddSingleton<IDistributedCache>(nodes.L2), o => o.MaximumPayloadBytes = 16, nodes.Two.Clock);

        (await small.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(new string('x', 100)))).Should().HaveLength(100);
        (await small.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("other"))).Should().HaveLength(100, "still kept in L1");

        (await nodes.Two.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("not in L2"))).Should().Be("not in L2");
    }
}
