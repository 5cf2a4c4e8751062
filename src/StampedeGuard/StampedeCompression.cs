namespace StampedeGuard;

/// <summary>
/// The codec that compresses payloads written to the distributed tier (see
/// <see cref="StampedeCacheOptions.DistributedCompression"/>). The envelope records the codec that wrote it, so every
/// node reads every codec listed here whatever its own setting.
/// </summary>
public enum StampedeCompression
{
    /// <summary>Payloads are stored as serialized (the default).</summary>
    None = 0,

    /// <summary>Brotli (<see cref="System.IO.Compression.BrotliEncoder"/>): smaller output, slower to write.</summary>
    Brotli = 1,

    /// <summary>ZLib/deflate (<see cref="System.IO.Compression.ZLibStream"/>): faster, somewhat larger output.</summary>
    ZLib = 2,
}
