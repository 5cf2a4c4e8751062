using System.Buffers;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests.Hybrid;

/// <summary>The deliberate differences from Microsoft's HybridCache listed in docs/hybridcache.md, one test each.</summary>
public sealed class HybridDifferencesTests : IDisposable
{
    private readonly FakeTimeProvider _clock = new();
    private readonly CountingDistributedCache _l2 = new();
    private readonly ServiceProvider _provider;

    public HybridDifferencesTests()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IDistributedCache>(_l2);
        services.AddSingleton<IHybridCacheSerializer<Unserializable>>(new FailingSerializer());
        services.AddStampedeGuard(o =>
        {
            o.TimeProvider = _clock;
            o.DefaultEntryOptions.EarlyRefreshBeta = 0;
        }).UseDistributedCache();
        _provider = services.BuildServiceProvider();
    }

    private HybridCache Cache => _provider.GetRequiredService<HybridCache>();

    public void Dispose() => _provider.Dispose();

    [Fact]
    public async Task GetOrCreateAsync_DisableDistributedCacheWriteOnly_SkipsL2ReadsToo()
    {
        var options = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableDistributedCacheWrite };

        await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), options);

        (_l2.Gets, _l2.Sets).Should().Be((0, 0), "either distributed flag maps to SkipDistributedCache");
    }

    [Fact]
    public async Task GetOrCreateAsync_LocalExpirationLongerThanDefaultExpiration_EndsWithFreshness()
    {
        var options = new HybridCacheEntryOptions { LocalCacheExpiration = TimeSpan.FromMinutes(10), Flags = HybridCacheEntryFlags.DisableDistributedCache };
        await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), options);

        _clock.Advance(TimeSpan.FromMinutes(6)); // past the default 5-minute Expiration, inside the 10-minute local one

        (await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2), options)).Should().Be(2, "an L1 copy never outlives the value's freshness");
    }

    [Fact]
    public async Task GetOrCreateAsync_ImmutableValueTheSerializerCannotWrite_ServedAndKeptLocally()
    {
        var value = new Unserializable();

        var first = await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(value));
        var second = await Cache.GetOrCreateAsync<Unserializable>("k", _ => throw new InvalidOperationException("cached"));

        (first, second).Should().Be((value, value), "an L2 serialization failure is logged and counted, not thrown");
        _l2.Sets.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_KeyWithLoneSurrogate_NotCached()
    {
        var runs = 0;

        await Cache.GetOrCreateAsync("a\ud800b", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));
        await Cache.GetOrCreateAsync("a\ud800b", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)));

        runs.Should().Be(2, "the engine refuses lone surrogates, so the adapter computes without caching");
    }

    [Fact]
    public async Task GetOrCreateAsync_TagWithControlCharacter_ThrowsNamingTags()
    {
        var act = async () => await Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), tags: ["a\u0001b"]);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("tags");
        await Cache.RemoveByTagAsync("a\u0001b"); // no entry can carry it: nothing to do, nothing thrown
    }

    [System.ComponentModel.ImmutableObject(true)]
    public sealed class Unserializable;

    private sealed class FailingSerializer : IHybridCacheSerializer<Unserializable>
    {
        public Unserializable Deserialize(ReadOnlySequence<byte> source) => throw new NotSupportedException();

        public void Serialize(Unserializable value, IBufferWriter<byte> target) => throw new InvalidOperationException("cannot write");
    }
}
