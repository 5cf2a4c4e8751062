using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Caching.Hybrid;

namespace StampedeGuard.Tests.Hybrid;

/// <summary>A per-type serializer that writes an int as text prefixed with "i:", so a test can tell it was used.</summary>
internal sealed class IntAsTextSerializer : IHybridCacheSerializer<int>
{
    public int Deserialize(ReadOnlySequence<byte> source) => int.Parse(Encoding.UTF8.GetString(source).AsSpan(2), CultureInfo.InvariantCulture);

    public void Serialize(int value, IBufferWriter<byte> target) => Encoding.UTF8.GetBytes("i:" + value.ToString(CultureInfo.InvariantCulture), target);
}
