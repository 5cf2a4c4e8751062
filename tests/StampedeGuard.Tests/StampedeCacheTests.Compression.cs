using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.Extensions.Caching.Distributed;
using StampedeGuard.Distributed;
using StampedeGuard.Internal;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static readonly string CompressibleJson =
        "[" + string.Join(",", Enumerable.Range(0, 200).Select(i => $"{{\"id\":{i},\"name\":\"product {i}\",\"price\":{i * 3}.99,\"inStock\":true}}")) + "]";

    private static byte CodecOf(byte[] envelope)
    {
        Envelope.TryRead(envelope, out _, out _, out _, out _, out var flags).Should().BeTrue();
        return (byte)Envelope.Codec(flags);
    }

    [Theory]
    [InlineData(StampedeCompression.Brotli)]
    [InlineData(StampedeCompression.ZLib)]
    public async Task SetAsync_CompressionOn_StoresCompressedEnvelopeThatRoundTrips(StampedeCompression codec)
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2, configure: o => o.DistributedCompression = codec);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2, configure: o => o.DistributedCompression = codec);

        await writer.Cache.SetAsync("k", CompressibleJson);
        var stored = (await l2.GetAsync("k"))!;
        var lookup = await reader.Cache.TryGetAsync<string>("k");

        CodecOf(stored).Should().Be((byte)codec);
        stored.Length.Should().BeLessThan(CompressibleJson.Length / 2);
        (lookup.HasValue, lookup.Value).Should().Be((true, CompressibleJson));
    }

    [Fact]
    public async Task SetAsync_PayloadBelowThreshold_StoredUncompressed()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2, configure: o =>
        {
            o.DistributedCompression = StampedeCompression.Brotli;
            o.DistributedCompressionThreshold = CompressibleJson.Length + 1;
        });

        await h.Cache.SetAsync("k", CompressibleJson);

        CodecOf((await l2.GetAsync("k"))!).Should().Be((byte)StampedeCompression.None);
    }

    [Fact]
    public async Task SetAsync_IncompressiblePayload_StoredUncompressed()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2, configure: o => o.DistributedCompression = StampedeCompression.ZLib);
        var random = new byte[4096];
        new Random(7).NextBytes(random);

        await h.Cache.SetAsync("k", random);

        CodecOf((await l2.GetAsync("k"))!).Should().Be((byte)StampedeCompression.None);
    }

    [Theory]
    [InlineData(StampedeCompression.Brotli)]
    [InlineData(StampedeCompression.ZLib)]
    public async Task TryGetAsync_NodeWithCompressionOff_ReadsCompressedEnvelope(StampedeCompression codec)
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2, configure: o => o.DistributedCompression = codec);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2);

        await writer.Cache.SetAsync("k", new List<Payload>(Enumerable.Range(0, 100).Select(i => new Payload(i))));
        var lookup = await reader.Cache.TryGetAsync<List<Payload>>("k");

        CodecOf((await l2.GetAsync("k"))!).Should().Be((byte)codec);
        lookup.Value.Should().Equal(Enumerable.Range(0, 100).Select(i => new Payload(i)));
    }

    [Theory]
    [InlineData(StampedeCompression.Brotli)]
    [InlineData(StampedeCompression.ZLib)]
    public async Task GetOrCreateAsync_CorruptCompressedPayload_MissCountedAndRepairedByNextWrite(StampedeCompression codec)
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2, configure: o => o.DistributedCompression = codec);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2, configure: o => o.DistributedCompression = codec);
        await writer.Cache.SetAsync("k", CompressibleJson);
        var stored = (await l2.GetAsync("k"))!;
        for (var i = stored.Length - 40; i < stored.Length - 10; i++)
        {
            stored[i] ^= 0x5A;
        }

        await l2.SetAsync("k", stored);

        var lookup = await reader.Cache.TryGetAsync<string>("k");
        var value = await reader.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("fresh"));
        var rewritten = (await l2.GetAsync("k"))!;
        var repaired = Envelope.TryRead(rewritten, out _, out _, out _, out var payload, out _) ? payload.ToArray() : null;

        (lookup.HasValue, value).Should().Be((false, "fresh"));
        reader.Metrics.Counter("stampedeguard.distributed.errors").Should().BeGreaterThan(0);
        reader.LogsWithEventId(6).Should().NotBeEmpty();
        repaired.Should().Equal("fresh"u8.ToArray());
    }

    [Fact]
    public async Task TryGetAsync_UnknownCodecBits_Miss()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2);
        await h.Cache.SetAsync("k", "v");
        var stored = (await l2.GetAsync("k"))!;
        stored[3] |= Envelope.CodecMask; // codec 3: reserved
        await l2.SetAsync("k", stored);
        using var reader = new CacheHarness(clock: h.Clock, l2: l2);

        var lookup = await reader.Cache.TryGetAsync<string>("k");

        lookup.HasValue.Should().BeFalse();
        reader.Metrics.Counter("stampedeguard.distributed.errors").Should().BeGreaterThan(0);
    }

    [Theory]
    [InlineData(StampedeCompression.Brotli)]
    [InlineData(StampedeCompression.ZLib)]
    public async Task TryGetAsync_DecompressionBomb_MissWithoutAllocatingTheBomb(StampedeCompression codec)
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2, configure: o => o.DistributedCompression = codec);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2, configure: o => o.MaximumPayloadBytes = 64 * 1024);
        await writer.Cache.SetAsync("k", CompressibleJson);
        Envelope.TryRead((await l2.GetAsync("k"))!, out var times, out var origin, out var tags, out _, out var flags).Should().BeTrue();

        // 256 MiB of zeros, declaring a small length (lying) and then declaring a huge one.
        var bomb = Compress(codec, new byte[256 * 1024 * 1024]);
        var lying = Envelope.Write(times, origin, tags, WithLength(bomb, 1000), flags);
        var huge = Envelope.Write(times, origin, tags, WithLength(bomb, int.MaxValue), flags);

        await l2.SetAsync("k", lying);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var first = await reader.Cache.TryGetAsync<string>("k");
        var direct = () => PayloadCompression.Decompress(codec, huge.AsMemory()[^(bomb.Length + 4)..], 64 * 1024);
        direct.Should().Throw<InvalidDataException>();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        first.HasValue.Should().BeFalse();
        allocated.Should().BeLessThan(8 * 1024 * 1024);
        reader.Metrics.Counter("stampedeguard.distributed.errors").Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_CompressiblePayloadOverMaximum_NotWrittenBecauseMaximumIsUncompressed()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(l2: l2, configure: o =>
        {
            o.DistributedCompression = StampedeCompression.Brotli;
            o.MaximumPayloadBytes = CompressibleJson.Length - 1;
        });

        await h.Cache.SetAsync("k", CompressibleJson);

        (await l2.GetAsync("k")).Should().BeNull();
    }

    [Theory]
    [InlineData(StampedeCompression.Brotli)]
    [InlineData(StampedeCompression.ZLib)]
    public async Task SetAsync_CompressedValueOnBackplane_DecodedByNodeWithCompressionOff(StampedeCompression codec)
    {
        var l2 = CacheHarness.NewL2();
        var bus = new LoopBackplane();
        var clock = new FakeTimeProvider();
        using var writer = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock, DistributedCompression = codec }, distributedStore: new DistributedCacheStore(l2), backplane: bus.Node());
        using var reader = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }, distributedStore: new DistributedCacheStore(l2), backplane: bus.Node());

        await writer.SetAsync("k", CompressibleJson);
        var carried = bus.Sent.Single(m => m.Kind == BackplaneMessageKind.Set).Envelope!;
        await l2.RemoveAsync("k"); // the reader can only have it from the message
        var lookup = await reader.TryGetAsync<string>("k");

        CodecOf(carried).Should().Be((byte)codec);
        (lookup.HasValue, lookup.Value).Should().Be((true, CompressibleJson));
    }

    private static byte[] Compress(StampedeCompression codec, byte[] data)
    {
        var output = new MemoryStream();
        using (Stream stream = codec == StampedeCompression.Brotli ? new BrotliStream(output, CompressionLevel.Fastest, true) : new ZLibStream(output, CompressionLevel.Fastest, true))
        {
            stream.Write(data);
        }

        return output.ToArray();
    }

    private static byte[] WithLength(byte[] compressed, int declared)
    {
        var payload = new byte[4 + compressed.Length];
        BinaryPrimitives.WriteInt32LittleEndian(payload, declared);
        compressed.CopyTo(payload, 4);
        return payload;
    }

    /// <summary>Delivers each node's messages to the other nodes, inline.</summary>
    private sealed class LoopBackplane
    {
        private readonly List<Action<BackplaneMessage>> _handlers = [];

        public List<BackplaneMessage> Sent { get; } = [];

        public IStampedeBackplane Node() => new Member(this);

        private sealed class Member(LoopBackplane bus) : IStampedeBackplane
        {
            private Action<BackplaneMessage>? _own;

            public ValueTask PublishAsync(BackplaneMessage message, CancellationToken cancellationToken)
            {
                lock (bus._handlers)
                {
                    bus.Sent.Add(message);
                    foreach (var handler in bus._handlers.Where(h => h != _own).ToList())
                    {
                        handler(message);
                    }
                }

                return ValueTask.CompletedTask;
            }

            public IDisposable Subscribe(Action<BackplaneMessage> handler)
            {
                lock (bus._handlers)
                {
                    _own = handler;
                    bus._handlers.Add(handler);
                }

                return new Unsubscribe(() => { lock (bus._handlers) { bus._handlers.Remove(handler); } });
            }
        }

        private sealed class Unsubscribe(Action action) : IDisposable
        {
            public void Dispose() => action();
        }
    }
}
