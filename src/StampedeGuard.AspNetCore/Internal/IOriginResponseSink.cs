namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Receives what the origin produces through an <see cref="OriginResponse"/>.</summary>
internal interface IOriginResponseSink
{
    /// <summary>Called once, when the status and header fields are final (first body write, start or completion).</summary>
    /// <param name="response">The response whose headers are final.</param>
    /// <returns>True to keep the body (it goes to the shared buffer); false to discard it (a 304 or an error replaced by a stored response).</returns>
    ValueTask<bool> OnHeadersAsync(OriginResponse response);

    /// <summary>Called with each piece of the body that is kept.</summary>
    /// <param name="data">The bytes.</param>
    /// <param name="cancellationToken">The origin's token.</param>
    /// <returns>A task that completes when the bytes are buffered (it waits only when the slowest client is a whole buffer behind).</returns>
    ValueTask OnBodyAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
}
