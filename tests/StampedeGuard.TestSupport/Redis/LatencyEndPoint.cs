using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// A loopback port in front of a real server: a slow link. Each new connection is held <see cref="ConnectDelay"/>
/// before it is forwarded (a server that is slow to come up, so a client's first connect takes that long), and replies
/// reach the client a fixed <see cref="Latency"/> after the server sent them (requests go through at once): a link
/// with that round-trip time. Replies are delayed in flight,
/// never queued behind each other, so pipelined commands still share one round trip. A sequence of operations that
/// takes less than <c>(n + 1) * Latency</c> through it cannot have waited for more than <c>n</c> round trips one after
/// the other: that is how tests and benchmarks count round trips without parsing the protocol.
/// </summary>
public sealed class LatencyEndPoint : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];

    private LatencyEndPoint(TcpListener listener, TimeSpan latency, TimeSpan connectDelay)
    {
        _listener = listener;
        Latency = latency;
        ConnectDelay = connectDelay;
    }

    /// <summary>Gets the delay added to every reply.</summary>
    public TimeSpan Latency { get; }

    /// <summary>Gets how long each new connection is held before it is forwarded.</summary>
    public TimeSpan ConnectDelay { get; }

    /// <summary>Gets the host:port to connect to.</summary>
    public string EndPoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>
    /// Starts forwarding to <paramref name="upstream"/> (host:port), every reply delayed by <paramref name="latency"/>,
    /// every new connection by <paramref name="connectDelay"/>.
    /// </summary>
    public static LatencyEndPoint Start(string upstream, TimeSpan latency, TimeSpan connectDelay = default)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(backlog: 64);
        var endPoint = new LatencyEndPoint(listener, latency, connectDelay);
        _ = endPoint.AcceptAsync(upstream);
        return endPoint;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }
        }
    }

    private async Task AcceptAsync(string upstream)
    {
        var (host, port) = (upstream[..upstream.LastIndexOf(':')], int.Parse(upstream[(upstream.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            _ = ForwardAsync(client, host, port);
        }
    }

    private async Task ForwardAsync(TcpClient client, string host, int port)
    {
        var server = new TcpClient();
        lock (_connections)
        {
            _connections.Add(client);
            _connections.Add(server);
        }

        try
        {
            client.NoDelay = true;
            server.NoDelay = true;
            if (ConnectDelay > TimeSpan.Zero)
            {
                await Task.Delay(ConnectDelay, _stop.Token).ConfigureAwait(false);
            }

            await server.ConnectAsync(host, port, _stop.Token).ConfigureAwait(false);
            var up = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
            var down = Latency > TimeSpan.Zero
                ? DelayedCopyAsync(server.GetStream(), client.GetStream())
                : server.GetStream().CopyToAsync(client.GetStream(), _stop.Token);
            await Task.WhenAny(up, down).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // A connection ends when either side closes it, or when the end point is disposed.
        }
        finally
        {
            client.Dispose();
            server.Dispose();
        }
    }

    /// <summary>Reads replies as they come and writes each one <see cref="Latency"/> after it was read, in order.</summary>
    private async Task DelayedCopyAsync(Stream from, Stream to)
    {
        var inFlight = Channel.CreateUnbounded<(long ReadAt, byte[] Bytes)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            await foreach (var (readAt, bytes) in inFlight.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                var due = Latency - Stopwatch.GetElapsedTime(readAt);
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, _stop.Token).ConfigureAwait(false);
                }

                await to.WriteAsync(bytes, _stop.Token).ConfigureAwait(false);
            }
        });
        try
        {
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var read = await from.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                inFlight.Writer.TryWrite((Stopwatch.GetTimestamp(), buffer[..read]));
            }
        }
        finally
        {
            inFlight.Writer.TryComplete();
            await writer.ConfigureAwait(false);
        }
    }
}
