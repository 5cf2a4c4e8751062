namespace StampedeGuard.AspNetCore.Internal;

/// <summary>The outcome of one read from a <see cref="SharedResponseBuffer"/>: data, the end of the body, or the producer's failure.</summary>
/// <param name="Data">Bytes at the reader's position; empty at the end.</param>
/// <param name="IsEnd">True when the body is complete and the reader has everything.</param>
/// <param name="Fault">The origin's failure, when the body ended with one.</param>
internal readonly record struct BufferRead(ReadOnlyMemory<byte> Data, bool IsEnd, Exception? Fault);
