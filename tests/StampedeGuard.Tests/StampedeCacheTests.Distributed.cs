using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private const int CorruptEnvelopeEvent = 6;
    private const int PayloadTooLargeEvent = 7;

    [Fact]
    public async Task GetOrCreateAsync_SharedL2_OtherInstanceReadsRecordRoundTrip()
    {
        var l2 = CacheHarness.NewL2();
        using var a = new CacheHarness(l2: l2);
        using var b = new CacheHarness(clock: a.Clock, l2: l2);
        var stored = new Order(7, "seven", [1.5, 2.5], new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
        await a.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(stored));
        a.Clock.Advance(TimeSpan.FromSeconds(3));

        var lookup = await b.Cache.TryGetAsync<Order>("k");

        lookup.HasValue.Should().BeTrue();
        lookup.Value.Should().BeEquivalentTo(stored);
        lookup.Age.Should().Be(TimeSpan.FromSeconds(3));
        lookup.IsStale.Should().BeFalse();
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 1, 2, 3 })]
    [InlineData(new byte[] { (byte)'{', (byte)'}' })]
    public async Task GetOrCreateAsync_ForeignPayloadInL2_IsMissLoggedNotException(byte[] foreign)
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2);
        await l2.SetAsync("k", foreign);

        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(9));

        value.Should().Be(9);
        h.LogsWithEventId(CorruptEnvelopeEvent).Should().ContainSingle();
    }

    [Fact]
    public async Task GetOrCreateAsync_TruncatedEnvelopeInL2_IsMissLoggedNotException()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2);
        using var h = new CacheHarness(clock: writer.Clock, l2: l2);
        await writer.Cache.SetAsync("k", "a value", new StampedeCacheEntryOptions { Tags = ["t"] });
        var bytes = (await l2.GetAsync("k"))!;
        await l2.SetAsync("k", bytes[..^3]);

        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("computed"));

        value.Should().Be("computed");
        h.LogsWithEventId(CorruptEnvelopeEvent).Should().ContainSingle();
    }

    [Fact]
    public async Task GetOrCreateAsync_L2EntryOfAnotherType_IsMissLoggedNotException()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2);
        using var h = new CacheHarness(clock: writer.Clock, l2: l2);
        await writer.Cache.SetAsync("k", "not a number");

        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(9));

        value.Should().Be(9);
        h.LogsWithEventId(CorruptEnvelopeEvent).Should().ContainSingle();
    }

    [Fact]
    public async Task GetOrCreateAsync_WellFormedEnvelopeWithFarFutureTimes_IsNeverAnExceptionToCaller()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2);
        var now = h.Clock.GetUtcNow().UtcTicks;
        await l2.SetAsync("k", ForeignEnvelope(now, now + TimeSpan.TicksPerSecond, long.MaxValue - 1, long.MaxValue, "\"x\""));

        var call = async () => await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("computed"));

        await call.Should().NotThrowAsync("a corrupt or foreign payload is a miss, never an exception to the caller");
    }

    [Fact]
    public async Task TryGetAsync_CorruptPayloadInL2_ReturnsNoValue()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2);
        await l2.SetAsync("k", "SG\u0001garbage"u8.ToArray());

        var lookup = await h.Cache.TryGetAsync<string>("k");

        lookup.HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task GetOrCreateAsync_PayloadOverMaximum_ServedButNotStoredInL2AndLogged()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2, configure: o => o.MaximumPayloadBytes = 16);
        var big = new string('x', 100);

        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(big));

        value.Should().Be(big);
        (await l2.GetAsync("k")).Should().BeNull();
        h.LogsWithEventId(PayloadTooLargeEvent).Should().ContainSingle();
    }

    [Fact]
    public async Task GetOrCreateAsync_PayloadOverMaximum_StillCachedLocally()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2, configure: o => o.MaximumPayloadBytes = 16);
        var runs = 0;

        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(new string('x', 100 + runs++)));
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(new string('x', 100 + runs++)));

        runs.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_PayloadAtMaximum_StoredInL2()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2, configure: o => o.MaximumPayloadBytes = 16);

        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(new string('x', 16)));

        (await l2.GetAsync("k")).Should().NotBeNull();
    }

    [Fact]
    public async Task GetOrCreateAsync_L2Throws_ServesFactoryValueAndLogs()
    {
        using var h = new CacheHarness(l2: new ThrowingDistributedCache());

        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(4));

        value.Should().Be(4);
        h.Metrics.Counter("stampedeguard.distributed.errors").Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_L2ThrowsWithThrowOnDistributedCacheErrors_CallerGetsTheL2Exception()
    {
        using var h = new CacheHarness(l2: new ThrowingDistributedCache(), configure: o => o.ThrowOnDistributedCacheErrors = true);

        var call = async () => await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(4));

        (await call.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Be("L2 down");
    }

    [Fact]
    public async Task GetOrCreateAsync_LocalDurationPassedOnFakeClock_ReadsNewerValueFromL2()
    {
        var l2 = CacheHarness.NewL2();
        using var a = new CacheHarness(o => { o.Duration = TimeSpan.FromMinutes(5); o.LocalDuration = TimeSpan.FromSeconds(1); }, l2: l2);
        using var b = new CacheHarness(o => o.Duration = TimeSpan.FromMinutes(5), clock: a.Clock, l2: l2);
        await a.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        a.Clock.Advance(TimeSpan.FromSeconds(0.5));
        await b.Cache.SetAsync("k", "v2");

        a.Clock.Advance(TimeSpan.FromSeconds(1));
        var value = await a.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v3"));

        value.Should().Be("v2", "the L1 copy lives LocalDuration on the cache's TimeProvider, then L2 is read again");
    }

    /// <summary>An envelope as the format documents it, written by hand (another writer, or a tampered one).</summary>
    private static byte[] ForeignEnvelope(long created, long freshUntil, long staleUntil, long keepUntil, string json)
    {
        var payload = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[2 + 1 + 1 + 40 + 2 + 4 + payload.Length];
        bytes[0] = (byte)'S';
        bytes[1] = (byte)'G';
        bytes[2] = 1;
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], created);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], freshUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[20..], staleUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[28..], keepUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[36..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(span[44..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(span[46..], payload.Length);
        payload.CopyTo(span[50..]);
        return bytes;
    }

    internal sealed record Order(int Id, string Name, double[] Prices, DateTimeOffset At);

    private sealed class ThrowingDistributedCache : IDistributedCache
    {
        public byte[]? Get(string key) => throw new InvalidOperationException("L2 down");

        public Task<byte[]?> GetAsync(string key, CancellationToken token = default) => throw new InvalidOperationException("L2 down");

        public void Refresh(string key) => throw new InvalidOperationException("L2 down");

        public Task RefreshAsync(string key, CancellationToken token = default) => throw new InvalidOperationException("L2 down");

        public void Remove(string key) => throw new InvalidOperationException("L2 down");

        public Task RemoveAsync(string key, CancellationToken token = default) => throw new InvalidOperationException("L2 down");

        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => throw new InvalidOperationException("L2 down");

        public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default) => throw new InvalidOperationException("L2 down");
    }
}
