#pragma warning disable CS0618 // MemoryCacheOptions.Clock (ISystemClock) lets the store's cache expire on the fake clock.
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using StampedeGuard.Distributed;
using StampedeGuard.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests.Distributed;

public sealed class DistributedCacheStoreTests
{
    private readonly FakeTimeProvider _clock = new();
    private readonly MemoryDistributedCache _cache;

    public DistributedCacheStoreTests() =>
        _cache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions { Clock = new FakeSystemClock(_clock) }));

    private static DistributedWriteOptions Ttl(TimeSpan ttl) => new() { TimeToLive = ttl, FreshUntil = DateTimeOffset.MaxValue };

    [Fact]
    public async Task WriteAsyncThenReadAsync_SameKey_ReturnsTheBytes()
    {
        var store = new DistributedCacheStore(_cache);

        var written = await store.WriteAsync("k", new byte[] { 1, 2, 3 }, Ttl(TimeSpan.FromMinutes(1)), default);
        var read = await store.ReadAsync("k", default, default);

        written.Should().Be(new DistributedWriteResult { Outcome = DistributedOutcome.Done });
        read.Envelope.Should().Equal(1, 2, 3);
        (read.Lease, read.LockHeldFor).Should().Be((null, null));
    }

    [Fact]
    public async Task WriteAsync_SliceOfLargerArray_StoresOnlyTheSlice()
    {
        var store = new DistributedCacheStore(_cache);
        var buffer = new byte[] { 9, 1, 2, 3, 9 };

        await store.WriteAsync("k", buffer.AsMemory(1, 3), Ttl(TimeSpan.FromMinutes(1)), default);

        (await store.ReadAsync("k", default, default)).Envelope.Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task WriteAsync_TimeToLiveElapses_EntryGone()
    {
        var store = new DistributedCacheStore(_cache);
        await store.WriteAsync("k", new byte[] { 1 }, Ttl(TimeSpan.FromSeconds(5)), default);

        _clock.Advance(TimeSpan.FromSeconds(5));

        (await store.ReadAsync("k", default, default)).Envelope.Should().BeNull();
    }

    [Fact]
    public async Task WriteAsync_KeyPrefix_AppliedToUnderlyingKey()
    {
        var store = new DistributedCacheStore(_cache, "app:");

        await store.WriteAsync("k", new byte[] { 1 }, Ttl(TimeSpan.FromMinutes(1)), default);

        (await _cache.GetAsync("app:k")).Should().Equal(1);
        (await _cache.GetAsync("k")).Should().BeNull();
    }

    [Fact]
    public async Task RemoveAsync_StoredKey_Gone()
    {
        var store = new DistributedCacheStore(_cache, "app:");
        await store.WriteAsync("k", new byte[] { 1 }, Ttl(TimeSpan.FromMinutes(1)), default);

        await store.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Remove, Key = "k" }, default);

        (await store.ReadAsync("k", default, default)).Envelope.Should().BeNull();
    }

    [Fact]
    public void Constructor_NullCache_ThrowsArgumentNullNamingCache()
    {
        var act = () => new DistributedCacheStore(null!);

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("cache");
    }
}
