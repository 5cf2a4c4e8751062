using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace StampedeGuard.Accelerator;

/// <summary>
/// YARP's client factory, with one change: a request the origin's connection closes on before any byte of the
/// response is one failed attempt (YARP answers 502, and the cache shares that with every waiter of the flight), not a
/// loop of silent retries.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="SocketsHttpHandler"/> resends a request without a body, up to three more times, whenever the connection
/// ends cleanly (FIN) before the response's first byte. That is meant for a kept-alive connection the server closed
/// while idle, but it happens on a new connection too: an origin that accepts a request, holds it and closes the
/// connection got the same request four times per client, and the client waited four times as long for its 502.
/// </para>
/// <para>
/// Here the origin's HTTP/1.x stream turns such an end of stream into an <see cref="IOException"/> (which the handler
/// does not retry), except once per request on a kept-alive (reused) connection: there the origin may have closed the
/// connection before it saw the request, and a single retry on another connection is what Varnish does with a
/// recycled backend connection. Requests with a body were never retried, and upgrade requests (WebSockets) are left
/// alone. HTTP/2 connections are not filtered.
/// </para>
/// </remarks>
internal sealed class OneAttemptHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger) : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        var inner = handler.PlaintextStreamFilter;
        handler.PlaintextStreamFilter = async (filter, cancellationToken) =>
        {
            var stream = inner is null ? filter.PlaintextStream : await inner(filter, cancellationToken).ConfigureAwait(false);
            return filter.NegotiatedHttpVersion.Major == 1 ? new OriginConnectionStream(stream) : stream;
        };
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new AttemptHandler(base.WrapHandler(context, handler));

    /// <summary>Marks each forwarded request with its <see cref="Attempt"/> for the connection streams it is written to.</summary>
    private sealed class AttemptHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var previous = Attempt.Current.Value;
            Attempt.Current.Value = new Attempt(guarded: request.Content is null && !IsUpgrade(request));
            try
            {
                return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Attempt.Current.Value = previous;
            }
        }

        private static bool IsUpgrade(HttpRequestMessage request) =>
            request.Headers.Contains(HeaderNames.Upgrade) || request.Method == HttpMethod.Connect;
    }

    /// <summary>One forwarded request, across the handler's internal retries.</summary>
    private sealed class Attempt(bool guarded)
    {
        public static readonly AsyncLocal<Attempt?> Current = new();

        /// <summary>Gets whether an end of stream before its response is a failure (a bodiless, non-upgrade request).</summary>
        public bool Guarded { get; } = guarded;

        /// <summary>Gets or sets whether its one retry after a reused connection closed has been used.</summary>
        public bool Retried { get; set; }
    }

    /// <summary>
    /// An HTTP/1.x connection to the origin. A request is written in the flow of the <see cref="AttemptHandler"/> call
    /// that sent it, so a write tells which request the next response belongs to; a clean end of stream before that
    /// response's first byte throws instead of letting the handler resend the request.
    /// </summary>
    private sealed class OriginConnectionStream(Stream inner) : Stream
    {
        private Attempt? _awaiting;
        private Attempt? _lastWriter;
        private int _requests;

        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => false;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            return Seen(read, buffer.Length);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(Span<byte> buffer) => Seen(inner.Read(buffer), buffer.Length);

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writing();
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Writing();
            inner.Write(buffer);
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }

        private void Writing()
        {
            if (Attempt.Current.Value is { } attempt && !ReferenceEquals(attempt, _lastWriter))
            {
                _lastWriter = attempt; // a new request on this connection
                _requests++;
                _awaiting = attempt.Guarded ? attempt : null;
            }
        }

        private int Seen(int read, int requested)
        {
            if (read > 0)
            {
                _awaiting = null; // the response has begun: from here the handler's own rules apply
                return read;
            }

            if (requested == 0 || _awaiting is not { } attempt)
            {
                return read;
            }

            _awaiting = null;
            if (_requests > 1 && !attempt.Retried)
            {
                attempt.Retried = true; // a kept-alive connection: the origin may not have seen the request; one retry
                return read;
            }

            throw new IOException("The origin closed the connection before sending a response; the request is not resent.");
        }
    }
}
