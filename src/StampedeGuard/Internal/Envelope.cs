using System.Buffers.Binary;
using System.Text;

namespace StampedeGuard.Internal;

/// <summary>
/// The binary form of an entry in the distributed tier:
/// <code>
/// "SG" | version:u8 | flags:u8 | created:i64 | freshUntil:i64 | staleUntil:i64 | keepUntil:i64 | factoryTicks:i64
///      | origin:i64 (version 2) | tagCount:u16 | (tagLength:u16 | tag:utf8)* | payloadLength:i32 | payload
/// </code>
/// Times are UTC ticks, integers little-endian. The timeline is the writer's clock; <c>origin</c> is when the value's
/// run began on the store's clock (the read it was computed after), the one clock every node orders invalidations by.
/// Version 1 envelopes (no origin) are still read: their origin is their creation. Anything that does not parse exactly is a miss, never an exception.
/// Flags: bit 0 (<see cref="NullValue"/>) marks a null value (empty payload), so null round-trips as null and not as
/// whatever the serializer makes of nothing (an empty string, for the raw string serializer).
/// Bits 1-2 (<see cref="CodecMask"/>) name the codec that compressed the payload: 0 none, 1 Brotli, 2 ZLib (the values
/// of <see cref="StampedeCompression"/>), 3 reserved (refused). A compressed payload is
/// <c>uncompressedLength:i32 | compressed bytes</c>, so a reader allocates exactly the declared length, refuses one
/// over its MaximumPayloadBytes and refuses data that does not decompress to exactly that length. The codec is a flag,
/// not a new version: every node of this version reads every codec whatever its own setting; a node of an older
/// version refuses the flag and treats the entry as a miss (never as a wrong value).
/// Other flag bits are refused.
/// </summary>
internal static class Envelope
{
    public const byte Version = 2;

    /// <summary>The flag of a null value.</summary>
    public const byte NullValue = 1;

    /// <summary>The flag bits that name the payload's codec (a <see cref="StampedeCompression"/> value shifted by <see cref="CodecShift"/>).</summary>
    public const byte CodecMask = 0b110;

    /// <summary>The shift of the codec in the flags.</summary>
    public const int CodecShift = 1;

    /// <summary>The flags of a payload compressed with <paramref name="codec"/>.</summary>
    public static byte CodecFlags(StampedeCompression codec) => (byte)((int)codec << CodecShift);

    /// <summary>The codec named by <paramref name="flags"/>.</summary>
    public static StampedeCompression Codec(byte flags) => (StampedeCompression)((flags & CodecMask) >> CodecShift);
    private const int FixedHeaderV1 = 2 + 1 + 1 + (5 * 8);
    private const int FixedHeader = FixedHeaderV1 + 8;

    public static byte[] Write(in EntryTimes times, long origin, IReadOnlyList<string>? tags, ReadOnlySpan<byte> payload, byte flags = 0)
    {
        var tagCount = tags?.Count ?? 0;
        var size = FixedHeader + 2 + 4 + payload.Length;
        for (var i = 0; i < tagCount; i++)
        {
            size += 2 + Encoding.UTF8.GetByteCount(tags![i]);
        }

        var buffer = new byte[size];
        var span = buffer.AsSpan();
        span[0] = (byte)'S';
        span[1] = (byte)'G';
        span[2] = Version;
        span[3] = flags;
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], times.Created);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], times.FreshUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[20..], times.StaleUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[28..], times.KeepUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[36..], times.FactoryTicks);
        BinaryPrimitives.WriteInt64LittleEndian(span[44..], origin);
        var offset = FixedHeader;
        BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], checked((ushort)tagCount));
        offset += 2;
        for (var i = 0; i < tagCount; i++)
        {
            var written = Encoding.UTF8.GetBytes(tags![i], span[(offset + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], checked((ushort)written));
            offset += 2 + written;
        }

        BinaryPrimitives.WriteInt32LittleEndian(span[offset..], payload.Length);
        offset += 4;
        payload.CopyTo(span[offset..]);
        return buffer;
    }

    public static bool TryRead(ReadOnlyMemory<byte> envelope, out EntryTimes times, out string[]? tags, out ReadOnlyMemory<byte> payload) =>
        TryRead(envelope, out times, out _, out tags, out payload, out _);

    public static bool TryRead(ReadOnlyMemory<byte> envelope, out EntryTimes times, out long origin, out string[]? tags, out ReadOnlyMemory<byte> payload, out byte flags)
    {
        flags = 0;
        origin = 0;
        times = default;
        tags = null;
        payload = default;
        var span = envelope.Span;
        if (span.Length < FixedHeaderV1 + 6 || span[0] != (byte)'S' || span[1] != (byte)'G' || span[2] is not (1 or Version))
        {
            return false;
        }

        var header = span[2] == Version ? FixedHeader : FixedHeaderV1;
        if (span.Length < header + 6)
        {
            return false;
        }

        times = new EntryTimes(
            BinaryPrimitives.ReadInt64LittleEndian(span[4..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[12..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[20..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[28..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[36..]));
        if (!times.IsConsistent)
        {
            return false;
        }

        origin = header == FixedHeader ? BinaryPrimitives.ReadInt64LittleEndian(span[44..]) : times.Created;
        var offset = header;
        int tagCount = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
        offset += 2;
        if (tagCount > 0)
        {
            tags = new string[tagCount];
            for (var i = 0; i < tagCount; i++)
            {
                if (span.Length < offset + 2)
                {
                    return false;
                }

                int length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
                offset += 2;
                if (span.Length < offset + length)
                {
                    return false;
                }

                tags[i] = Encoding.UTF8.GetString(span.Slice(offset, length));
                offset += length;
            }
        }

        if (span.Length < offset + 4)
        {
            return false;
        }

        var payloadLength = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
        offset += 4;
        if (payloadLength < 0 || span.Length - offset != payloadLength)
        {
            return false;
        }

        payload = envelope.Slice(offset, payloadLength);
        flags = span[3];
        return (flags & ~(NullValue | CodecMask)) == 0
            && Codec(flags) is StampedeCompression.None or StampedeCompression.Brotli or StampedeCompression.ZLib
            && ((flags & NullValue) == 0 || (payloadLength == 0 && (flags & CodecMask) == 0));
    }

    /// <summary>Rewrites the timeline of an envelope in place (used to expire an entry without knowing its type).</summary>
    public static void PatchTimes(byte[] envelope, in EntryTimes times)
    {
        var span = envelope.AsSpan();
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], times.Created);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], times.FreshUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[20..], times.StaleUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[28..], times.KeepUntil);
        BinaryPrimitives.WriteInt64LittleEndian(span[36..], times.FactoryTicks);
    }
}
