using System.Buffers;
using StampedeGuard.Hybrid;

namespace StampedeGuard.Tests.Hybrid;

/// <summary>The payload's L2 serializer is made for the T the adapter names (no MakeGenericType: Native AOT).</summary>
public sealed class HybridPayloadTests
{
    [Fact]
    public void PassThroughSerializer_AfterHolds_WritesAndReadsTheBytesAsTheyAre()
    {
        HybridPayload.Holds<List<Guid>>().Should().BeTrue("a list is mutable: kept as bytes");
        var serializer = HybridPayload.PassThroughSerializer<HybridPayload<List<Guid>>>();
        var buffer = new ArrayBufferWriter<byte>();

        serializer.Serialize(new HybridPayload<List<Guid>>([1, 2, 3]), buffer);

        serializer.Deserialize(new ReadOnlySequence<byte>(buffer.WrittenMemory)).Bytes.Should().Equal(1, 2, 3);
    }

    [Fact]
    public void Holds_ImmutableType_False()
    {
        (HybridPayload.Holds<int>(), HybridPayload.Holds<string>()).Should().Be((false, false));
    }

    [Fact]
    public void PassThroughSerializer_TypeNeverAskedAbout_Throws()
    {
        var act = () => HybridPayload.PassThroughSerializer<HybridPayload<Queue<DateOnly>>>();

        act.Should().Throw<InvalidOperationException>().WithMessage("*Holds<T>()*");
    }
}
