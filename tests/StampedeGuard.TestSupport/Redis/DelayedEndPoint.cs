using System.Net;
using System.Net.Sockets;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// A loopback port in front of a real server that holds every new connection for a while before it forwards it (then
/// bytes flow both ways untouched): a Redis that is slow to come up, so a client's first connect takes that long.
/// </summary>
public sealed class DelayedEndPoint : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];

    private DelayedEndPoint(TcpListener listener) => _listener = listener;

    public string EndPoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Starts forwarding to <paramref name="upstream"/> (host:port), each connection after <paramref name="delay"/>.</summary>
    public static DelayedEndPoint Start(string upstream, TimeSpan delay)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(backlog: 64);
        var endPoint = new DelayedEndPoint(listener);
        _ = endPoint.AcceptAsync(upstream, delay);
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

    private async Task AcceptAsync(string upstream, TimeSpan delay)
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

            _ = ForwardAsync(client, host, port, delay);
        }
    }

    private async Task ForwardAsync(TcpClient client, string host, int port, TimeSpan delay)
    {
        var server = new TcpClient();
        lock (_connections)
        {
            _connections.Add(client);
            _connections.Add(server);
        }

        try
        {
            await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            await server.ConnectAsync(host, port, _stop.Token).ConfigureAwait(false);
            var up = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
            var down = server.GetStream().CopyToAsync(client.GetStream(), _stop.Token);
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
}
