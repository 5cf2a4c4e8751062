using System.Buffers;
using System.Text;
using StampedeGuard.Serialization;

namespace StampedeGuard.Tests.Serialization;

public sealed class JsonStampedeSerializerFactoryTests
{
    private static T RoundTrip<T>(T value, out byte[] bytes)
    {
        new JsonStampedeSerializerFactory().TryCreateSerializer<T>(out var serializer).Should().BeTrue();
        var buffer = new ArrayBufferWriter<byte>();
        serializer!.Serialize(value, buffer);
        bytes = buffer.WrittenSpan.ToArray();
        return serializer.Deserialize(new ReadOnlySequence<byte>(bytes));
    }

    [Fact]
    public void String_RoundTrip_StoredAsRawUtf8()
    {
        var value = RoundTrip("héllo \"quoted\"", out var bytes);

        value.Should().Be("héllo \"quoted\"");
        bytes.Should().Equal(Encoding.UTF8.GetBytes("héllo \"quoted\""));
    }

    [Fact]
    public void ByteArray_RoundTrip_StoredRaw()
    {
        var value = RoundTrip(new byte[] { 0, 255, 7 }, out var bytes);

        (value, bytes).Should().BeEquivalentTo((new byte[] { 0, 255, 7 }, new byte[] { 0, 255, 7 }));
    }

    [Fact]
    public void Record_RoundTrip_EqualValue()
    {
        var original = new Sample(3, "three", [1, 2], new DateTimeOffset(2026, 5, 6, 7, 8, 9, 123, TimeSpan.FromHours(2)));

        var value = RoundTrip(original, out _);

        value.Should().BeEquivalentTo(original);
    }

    internal sealed record Sample(int Id, string Name, int[] Items, DateTimeOffset At);
}
