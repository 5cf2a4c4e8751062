namespace StampedeGuard.AspNetCore.Internal;

/// <summary>One client's position in a <see cref="SharedResponseBuffer"/>.</summary>
internal sealed class BufferReader
{
    /// <summary>Gets or sets the offset of the next byte this reader needs (guarded by the buffer's lock).</summary>
    public long Position { get; set; }

    /// <summary>Gets or sets whether the reader has left (finished, timed out or disconnected).</summary>
    public bool Detached { get; set; }
}
