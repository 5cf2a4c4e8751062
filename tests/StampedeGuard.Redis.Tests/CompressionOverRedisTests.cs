using StampedeGuard.Redis.Tests.Infrastructure;

namespace StampedeGuard.Redis.Tests;

/// <summary>Compressed payloads over a real Redis: written by one node, read by another whatever its own setting.</summary>
[Collection("redis")]
public sealed class CompressionOverRedisTests(RedisFixture redis) : IAsyncLifetime
{
    private static readonly string Json =
        "[" + string.Join(",", Enumerable.Range(0, 500).Select(i => $"{{\"id\":{i},\"name\":\"product {i}\",\"price\":{i * 3}.99,\"tags\":[\"a\",\"b\"]}}")) + "]";

    private static readonly StampedeCacheEntryOptions Entry = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };

    private readonly string _prefix = RedisFixture.NewPrefix();
    private readonly List<IAsyncDisposable> _owned = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var item in _owned)
        {
            await item.DisposeAsync();
        }
    }

    private async Task<StampedeCache> NodeAsync(StampedeCompression compression)
    {
        var tier = await redis.NewTierAsync(_prefix);
        _owned.Add(tier);
        return new StampedeCache(new StampedeCacheOptions { DistributedCompression = compression }, distributedStore: tier, backplane: tier);
    }

    [Theory]
    [InlineData(StampedeCompression.Brotli)]
    [InlineData(StampedeCompression.ZLib)]
    public async Task GetOrCreateAsync_CompressedByOneNode_ReadByNodeWithCompressionOff(StampedeCompression codec)
    {
        using var writer = await NodeAsync(codec);
        using var reader = await NodeAsync(StampedeCompression.None);
        var readerRuns = 0;

        await writer.GetOrCreateAsync("page", _ => ValueTask.FromResult(Json), Entry);
        var stored = await redis.Connection.GetDatabase().HashStringLengthAsync(_prefix + "{page}:v", "v");
        var read = await reader.GetOrCreateAsync("page", _ => { readerRuns++; return ValueTask.FromResult("origin"); }, Entry);

        (read == Json, readerRuns).Should().Be((true, 0));
        stored.Should().BeInRange(1, Json.Length / 4);
    }

    [Fact]
    public async Task GetOrCreateAsync_UncompressedNodeWritesAfterCompressedNode_BothReadEachOther()
    {
        using var compressing = await NodeAsync(StampedeCompression.Brotli);
        using var plain = await NodeAsync(StampedeCompression.None);

        await plain.SetAsync("a", Json, Entry);
        await compressing.SetAsync("b", Json, Entry);
        var plainReadsB = await plain.TryGetAsync<string>("b");
        var compressingReadsA = await compressing.TryGetAsync<string>("a");

        (plainReadsB.Value == Json, compressingReadsA.Value == Json).Should().Be((true, true));
        (await redis.Connection.GetDatabase().HashStringLengthAsync(_prefix + "{a}:v", "v")).Should().BeGreaterThan(Json.Length);
    }
}
