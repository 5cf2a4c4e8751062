namespace StampedeGuard.Hybrid;

/// <summary>
/// A value of a mutable type as the HybridCache adapter keeps it: the bytes its serializer wrote. Every caller gets its
/// own deserialized copy, so one caller's changes never reach another (HybridCache's defensive-copy contract).
/// </summary>
/// <typeparam name="T">The type of the value the bytes hold.</typeparam>
internal sealed class HybridPayload<T>(byte[] bytes)
{
    public byte[] Bytes { get; } = bytes;
}
