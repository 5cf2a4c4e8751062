using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;

namespace StampedeGuard.Internal;

/// <summary>
/// Compression of distributed payloads with the BCL's codecs. A compressed payload is
/// <c>uncompressedLength:i32 | compressed bytes</c> (see <see cref="Envelope"/>); decompression allocates exactly the
/// declared length, which must be positive and at most the reader's MaximumPayloadBytes, so a decompression bomb costs
/// no more than that.
/// </summary>
internal static class PayloadCompression
{
    private const int LengthPrefix = 4;
    private const int BrotliWindow = 22;

    /// <summary>The compressed payload (length prefix included), or null when it would not be smaller than <paramref name="payload"/>.</summary>
    public static byte[]? TryCompress(StampedeCompression codec, CompressionLevel level, ReadOnlySpan<byte> payload)
    {
        if (payload.Length <= LengthPrefix + 1)
        {
            return null;
        }

        return codec switch
        {
            StampedeCompression.Brotli => TryBrotli(level, payload),
            StampedeCompression.ZLib => TryZLib(level, payload),
            _ => null,
        };
    }

    /// <summary>The payload <paramref name="compressed"/> holds; throws <see cref="InvalidDataException"/> when it is corrupt or declares more than <paramref name="maximum"/> bytes.</summary>
    public static byte[] Decompress(StampedeCompression codec, ReadOnlyMemory<byte> compressed, int maximum)
    {
        var span = compressed.Span;
        if (span.Length < LengthPrefix)
        {
            throw new InvalidDataException("The compressed payload has no length.");
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(span);
        if (length <= 0 || length > maximum)
        {
            throw new InvalidDataException($"The compressed payload declares {length} bytes; MaximumPayloadBytes is {maximum}.");
        }

        var result = new byte[length];
        switch (codec)
        {
            case StampedeCompression.Brotli:
                using (var decoder = new BrotliDecoder())
                {
                    var status = decoder.Decompress(span[LengthPrefix..], result, out var consumed, out var written);
                    if (status != OperationStatus.Done || written != length || consumed != span.Length - LengthPrefix)
                    {
                        throw new InvalidDataException($"The Brotli payload does not decompress to its declared {length} bytes ({status}).");
                    }
                }

                break;
            case StampedeCompression.ZLib:
                var body = compressed[LengthPrefix..];
                var segment = MemoryMarshal.TryGetArray(body, out var s) ? s : new ArraySegment<byte>(body.ToArray());
                using (var stream = new ZLibStream(new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false), CompressionMode.Decompress))
                {
                    stream.ReadExactly(result);
                    if (stream.ReadByte() != -1)
                    {
                        throw new InvalidDataException($"The ZLib payload decompresses to more than its declared {length} bytes.");
                    }
                }

                break;
            default:
                throw new InvalidDataException($"Unknown codec {(int)codec}.");
        }

        return result;
    }

    private static byte[]? TryBrotli(CompressionLevel level, ReadOnlySpan<byte> payload)
    {
        var quality = level switch
        {
            CompressionLevel.NoCompression => 0,
            CompressionLevel.Fastest => 1,
            CompressionLevel.SmallestSize => 11,
            _ => 4,
        };
        var rented = ArrayPool<byte>.Shared.Rent(payload.Length);
        try
        {
            // Room for less than the payload: a result that would not be smaller fails here and is not kept.
            var room = rented.AsSpan(LengthPrefix, payload.Length - LengthPrefix - 1);
            if (!BrotliEncoder.TryCompress(payload, room, out var written, quality, BrotliWindow))
            {
                return null;
            }

            var result = new byte[LengthPrefix + written];
            BinaryPrimitives.WriteInt32LittleEndian(result, payload.Length);
            room[..written].CopyTo(result.AsSpan(LengthPrefix));
            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static byte[]? TryZLib(CompressionLevel level, ReadOnlySpan<byte> payload)
    {
        var output = new MemoryStream(payload.Length / 2);
        output.Write(stackalloc byte[LengthPrefix]);
        using (var zlib = new ZLibStream(output, level, leaveOpen: true))
        {
            zlib.Write(payload);
        }

        if (output.Length >= payload.Length)
        {
            return null;
        }

        var result = output.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(result, payload.Length);
        return result;
    }
}
