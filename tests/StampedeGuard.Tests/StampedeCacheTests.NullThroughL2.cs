using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task SetAsync_NullStringThroughL2_ReadsBackAsNullOnAnotherNode()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2);

        await writer.Cache.SetAsync<string?>("k", null);
        var lookup = await reader.Cache.TryGetAsync<string?>("k");
        var runs = 0;
        var read = await reader.Cache.GetOrCreateAsync<string?>("k", _ => { runs++; return ValueTask.FromResult<string?>("factory"); });

        (lookup.HasValue, lookup.Value, read, runs).Should().Be((true, (string?)null, (string?)null, 0));
    }

    [Fact]
    public async Task SetAsync_EmptyStringThroughL2_ReadsBackAsEmptyNotNull()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2);

        await writer.Cache.SetAsync("k", string.Empty);

        (await reader.Cache.TryGetAsync<string>("k")).Value.Should().NotBeNull().And.BeEmpty();
    }

    [Fact]
    public async Task SetAsync_NullRecordThroughL2_ReadsBackAsNull()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2);

        await writer.Cache.SetAsync<Payload?>("k", null);
        var lookup = await reader.Cache.TryGetAsync<Payload?>("k");

        (lookup.HasValue, lookup.Value).Should().Be((true, (Payload?)null));
    }
}
