using System.Buffers.Binary;
using System.Text;
using StampedeGuard.Distributed;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// A message on the tier's one channel:
/// <code>0xA7 | version:u8 | kind:u8 | flags:u8 | sender:16 bytes | timestamp:i64 | keyLength:i32 | key:utf8 | envelope?</code>
/// Kinds 0-3 are <see cref="BackplaneMessageKind"/>; <see cref="Released"/> says a lock (key = the Redis lock key) was
/// released without a value. Anything that does not parse is ignored.
/// </summary>
internal readonly record struct Notification(byte Kind, Guid Sender, long Timestamp, string Key, byte[]? Envelope)
{
    public const byte Released = 16;
    private const byte Magic = 0xA7;
    private const byte Version = 1;
    private const byte HasEnvelope = 1;
    private const int Fixed = 4 + 16 + 8 + 4;

    /// <summary>Encodes the header; the envelope (if <paramref name="envelopeFollows"/>) is appended by the caller or a script.</summary>
    public static byte[] EncodeHeader(byte kind, Guid sender, long timestamp, string key, bool envelopeFollows, int envelopeLength = 0)
    {
        var keyLength = Encoding.UTF8.GetByteCount(key);
        var buffer = new byte[Fixed + keyLength + envelopeLength];
        var span = buffer.AsSpan();
        span[0] = Magic;
        span[1] = Version;
        span[2] = kind;
        span[3] = envelopeFollows ? HasEnvelope : (byte)0;
        sender.TryWriteBytes(span[4..20]);
        BinaryPrimitives.WriteInt64LittleEndian(span[20..], timestamp);
        BinaryPrimitives.WriteInt32LittleEndian(span[28..], keyLength);
        Encoding.UTF8.GetBytes(key, span[Fixed..]);
        return buffer;
    }

    public static byte[] Encode(byte kind, Guid sender, long timestamp, string key, byte[]? envelope)
    {
        var buffer = EncodeHeader(kind, sender, timestamp, key, envelope is not null, envelope?.Length ?? 0);
        envelope?.CopyTo(buffer.AsSpan(buffer.Length - envelope.Length));
        return buffer;
    }

    public static bool TryDecode(byte[]? message, out Notification notification)
    {
        notification = default;
        if (message is null || message.Length < Fixed || message[0] != Magic || message[1] != Version)
        {
            return false;
        }

        var span = message.AsSpan();
        var keyLength = BinaryPrimitives.ReadInt32LittleEndian(span[28..]);
        if (keyLength < 0 || keyLength > span.Length - Fixed)
        {
            return false;
        }

        var key = Encoding.UTF8.GetString(span.Slice(Fixed, keyLength));
        byte[]? envelope = (span[3] & HasEnvelope) != 0 ? span[(Fixed + keyLength)..].ToArray() : null;
        notification = new Notification(span[2], new Guid(span[4..20]), BinaryPrimitives.ReadInt64LittleEndian(span[20..]), key, envelope);
        return true;
    }
}
