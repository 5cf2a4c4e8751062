using System.Buffers.Binary;
using System.Text;
using StampedeGuard.Distributed;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// A message on the tier's one channel:
/// <code>0xA7 | format:u8 (2) | kind:u8 | flags:u8 | version:f64 | sender:16 bytes | timestamp:i64 | keyLength:i32 | key:utf8 | envelope?</code>
/// Kinds 0-3 are <see cref="BackplaneMessageKind"/>; <see cref="Released"/> says a lock (key = the Redis lock key) was
/// released without a value; <see cref="Heartbeat"/> is a node's heartbeat (its timestamp: the sender's
/// <see cref="TimeProvider.GetTimestamp"/> when it was sent, read back only by the sender). The version is the key's version after the
/// change, on Redis's clock in microseconds (a double: exact below 2^53), written by the script that made the change,
/// so it is the version Redis assigned. Anything that does not parse is ignored.
/// </summary>
internal readonly record struct Notification(byte Kind, Guid Sender, long Version, long Timestamp, string Key, byte[]? Envelope)
{
    public const byte Released = 16;
    public const byte Heartbeat = 17;
    public const int PrefixLength = 4;
    private const byte Magic = 0xA7;
    private const byte Format = 2;
    private const byte HasEnvelope = 1;
    private const int Fixed = PrefixLength + 8 + 16 + 8 + 4;

    /// <summary>The message's first bytes, before the version a script inserts.</summary>
    public static byte[] Prefix(byte kind, bool envelopeFollows) => [Magic, Format, kind, envelopeFollows ? HasEnvelope : (byte)0];

    /// <summary>The message after the version: sender, timestamp, key (the envelope, if any, is appended by the script).</summary>
    public static byte[] Rest(Guid sender, long timestamp, string key)
    {
        var keyLength = Encoding.UTF8.GetByteCount(key);
        var buffer = new byte[16 + 8 + 4 + keyLength];
        var span = buffer.AsSpan();
        sender.TryWriteBytes(span[..16]);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], timestamp);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], keyLength);
        Encoding.UTF8.GetBytes(key, span[28..]);
        return buffer;
    }

    public static byte[] Encode(byte kind, Guid sender, long version, long timestamp, string key, byte[]? envelope)
    {
        var prefix = Prefix(kind, envelope is not null);
        var rest = Rest(sender, timestamp, key);
        var buffer = new byte[PrefixLength + 8 + rest.Length + (envelope?.Length ?? 0)];
        prefix.CopyTo(buffer, 0);
        BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan(PrefixLength), version);
        rest.CopyTo(buffer, PrefixLength + 8);
        envelope?.CopyTo(buffer, PrefixLength + 8 + rest.Length);
        return buffer;
    }

    public static bool TryDecode(byte[]? message, out Notification notification)
    {
        notification = default;
        if (message is null || message.Length < Fixed || message[0] != Magic || message[1] != Format)
        {
            return false;
        }

        var span = message.AsSpan();
        var version = BinaryPrimitives.ReadDoubleLittleEndian(span[PrefixLength..]);
        var keyLength = BinaryPrimitives.ReadInt32LittleEndian(span[(Fixed - 4)..]);
        if (keyLength < 0 || keyLength > span.Length - Fixed || !double.IsFinite(version) || version < 0)
        {
            return false;
        }

        var key = Encoding.UTF8.GetString(span.Slice(Fixed, keyLength));
        byte[]? envelope = (span[3] & HasEnvelope) != 0 ? span[(Fixed + keyLength)..].ToArray() : null;
        var sender = new Guid(span.Slice(PrefixLength + 8, 16));
        var timestamp = BinaryPrimitives.ReadInt64LittleEndian(span[(PrefixLength + 8 + 16)..]);
        notification = new Notification(span[2], sender, (long)version, timestamp, key, envelope);
        return true;
    }
}
