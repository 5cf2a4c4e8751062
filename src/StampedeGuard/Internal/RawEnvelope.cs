namespace StampedeGuard.Internal;

/// <summary>An envelope delivered by the backplane, kept in L1 as bytes and decoded on the first typed read.</summary>
internal sealed class RawEnvelope(byte[] bytes) : LocalEntry
{
    public byte[] Bytes { get; } = bytes;
}
