using System.Buffers;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's BrokenSerializer tests for mutable types: a value is serialized once and deserialized for every
/// caller; a serializer that fails to read or write surfaces its exception to the caller.
/// </summary>
public sealed class BrokenSerializerTests
{
    [Theory]
    [Both("some value", 1, 2, false)]
    [Both("read fail", 1, 1, true)]
    [Both("write fail", 1, 0, true)]
    public async Task GetOrCreateAsync_MutableWithCountingSerializer_SerializesOnceDeserializesPerCaller(Implementation implementation, string value, int writes, int reads, bool throws)
    {
        var serializer = new FlakySerializer();
        using var host = HybridHost.Create(implementation, s =>
        {
            s.AddSingleton<IDistributedCache>(new SharedL2());
            s.AddSingleton<IHybridCacheSerializer<MutablePoco>>(serializer);
        });
        var runs = 0;
        ValueTask<MutablePoco> Factory(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            return ValueTask.FromResult(new MutablePoco { Value = value });
        }

        if (throws)
        {
            var act = async () => await host.Cache.GetOrCreateAsync("key", Factory);
            await act.Should().ThrowAsync<KnownFailureException>();
        }
        else
        {
            var first = await host.Cache.GetOrCreateAsync("key", Factory);
            var second = await host.Cache.GetOrCreateAsync("key", Factory);
            (first.Value, second.Value).Should().Be((value, value));
            first.Should().NotBeSameAs(second);
        }

        (runs, serializer.Writes, serializer.Reads).Should().Be((1, writes, reads));
    }

    public sealed class KnownFailureException(string message) : Exception(message);

    private sealed class FlakySerializer : IHybridCacheSerializer<MutablePoco>
    {
        private int _reads;
        private int _writes;

        public int Reads => Volatile.Read(ref _reads);

        public int Writes => Volatile.Read(ref _writes);

        public MutablePoco Deserialize(ReadOnlySequence<byte> source)
        {
            Interlocked.Increment(ref _reads);
            var value = Encoding.UTF8.GetString(source);
            return value == "read fail" ? throw new KnownFailureException("read failure") : new MutablePoco { Value = value };
        }

        public void Serialize(MutablePoco value, IBufferWriter<byte> target)
        {
            Interlocked.Increment(ref _writes);
            if (value.Value == "write fail")
            {
                throw new KnownFailureException("write failure");
            }

            Encoding.UTF8.GetBytes(value.Value, target);
        }
    }
}
