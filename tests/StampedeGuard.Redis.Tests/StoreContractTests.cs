using System.Text;
using StampedeGuard.Distributed;

namespace StampedeGuard.Redis.Tests;

/// <summary>The behaviour every <see cref="IStampedeDistributedStore"/> promises; run once per store.</summary>
public abstract class StoreContractTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    protected IStampedeDistributedStore Store { get; private set; } = null!;

    public async Task InitializeAsync() => Store = await CreateStoreAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    protected abstract Task<IStampedeDistributedStore> CreateStoreAsync();

    protected static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    protected static DistributedWriteOptions Write(TimeSpan? ttl = null) => new() { TimeToLive = ttl ?? TimeSpan.FromMinutes(1), FreshUntil = Now.AddMinutes(1) };

    [Fact]
    public async Task ReadAsync_MissingKey_ReturnsNoEnvelope()
    {
        var result = await Store.ReadAsync("missing", default, default);

        result.Envelope.Should().BeNull();
        result.Lease.Should().BeNull();
    }

    [Fact]
    public async Task WriteAsync_ThenRead_ReturnsSameBytes()
    {
        var written = await Store.WriteAsync("k", Bytes("hello"), Write(), default);
        var result = await Store.ReadAsync("k", default, default);

        written.Written.Should().BeTrue();
        result.Envelope.Should().Equal(Bytes("hello"));
    }

    [Fact]
    public async Task WriteAsync_Twice_LastWriteWins()
    {
        await Store.WriteAsync("k", Bytes("one"), Write(), default);
        await Store.WriteAsync("k", Bytes("two"), Write(), default);

        (await Store.ReadAsync("k", default, default)).Envelope.Should().Equal(Bytes("two"));
    }

    [Fact]
    public async Task RemoveAsync_WrittenKey_ReadReturnsNothing()
    {
        await Store.WriteAsync("k", Bytes("v"), Write(), default);
        await Store.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Remove, Key = "k" }, default);

        (await Store.ReadAsync("k", default, default)).Envelope.Should().BeNull();
    }

    [Fact]
    public async Task WriteAsync_SliceOfLargerArray_StoresOnlyTheSlice()
    {
        var buffer = Bytes("xxpayloadyy");
        await Store.WriteAsync("k", buffer.AsMemory(2, 7), Write(), default);

        (await Store.ReadAsync("k", default, default)).Envelope.Should().Equal(Bytes("payload"));
    }

    [Theory]
    [InlineData("a{b}c", "a{b}d")]
    [InlineData("}", "{")]
    [InlineData("{}", "}{")]
    [InlineData("x\\}", "x}\\")]
    [InlineData("ключ", "键")]
    public async Task WriteAsync_KeysWithBracesOrUnicode_StayDistinct(string first, string second)
    {
        await Store.WriteAsync(first, Bytes("1"), Write(), default);
        await Store.WriteAsync(second, Bytes("2"), Write(), default);

        (await Store.ReadAsync(first, default, default)).Envelope.Should().Equal(Bytes("1"));
        (await Store.ReadAsync(second, default, default)).Envelope.Should().Equal(Bytes("2"));
    }

    [Fact]
    public async Task WriteAsync_LargeValue_RoundTrips()
    {
        var large = new byte[512 * 1024];
        new Random(42).NextBytes(large);
        await Store.WriteAsync("big", large, Write(), default);

        (await Store.ReadAsync("big", default, default)).Envelope.Should().Equal(large);
    }

    [Fact]
    public async Task ReadAsync_AcquireOnMissingKey_TakesLockOnlyIfSupported()
    {
        var result = await Store.ReadAsync("lockme", new DistributedReadOptions { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = Now, LeaseDuration = TimeSpan.FromSeconds(10) }, default);

        if (Store.SupportsLocking)
        {
            result.Lease.Should().NotBeNull();
            await result.Lease!.ReleaseAsync();
        }
        else
        {
            result.Lease.Should().BeNull();
        }
    }

    [Fact]
    public async Task WaitForValueAsync_ValueAlreadyThere_ReturnsIt()
    {
        await Store.WriteAsync("k", Bytes("v"), Write(), default);

        var result = await Store.WaitForValueAsync("k", TimeSpan.FromMilliseconds(200), default);

        result.Envelope.Should().Equal(Bytes("v"));
    }
}

public sealed class DistributedCacheStoreContractTests : StoreContractTests
{
    protected override Task<IStampedeDistributedStore> CreateStoreAsync() =>
        Task.FromResult<IStampedeDistributedStore>(new DistributedCacheStore(
            new Microsoft.Extensions.Caching.Distributed.MemoryDistributedCache(Microsoft.Extensions.Options.Options.Create(new Microsoft.Extensions.Caching.Memory.MemoryDistributedCacheOptions())), "p:"));
}

[Collection("redis")]
public sealed class RedisStoreContractTests(Infrastructure.RedisFixture redis) : StoreContractTests
{
    private RedisStampedeTier? _tier;

    protected override async Task<IStampedeDistributedStore> CreateStoreAsync() => _tier = await redis.NewTierAsync(Infrastructure.RedisFixture.NewPrefix());

    public override async Task DisposeAsync() => await _tier!.DisposeAsync();
}
