using System.Net;
using System.Net.Sockets;
using System.Text;
using StampedeGuard.TestSupport.Http;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>
/// An origin on a raw socket (127.0.0.1, port 0), for failures Kestrel does not produce: it reads each request head
/// (bodiless requests, keep-alive) and lets <c>respond</c> decide, per request, what to send back (raw HTTP/1.1 text,
/// connection kept) or to close the connection cleanly (FIN) without a byte of response (null). The token passed to
/// <c>respond</c> is cancelled when the client closes the connection. <see cref="Counter"/> counts requests in progress.
/// </summary>
public sealed class RawOrigin : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<string, CancellationToken, Task<string?>> _respond;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private RawOrigin(Func<string, CancellationToken, Task<string?>> respond)
    {
        _respond = respond;
        _listener.Start();
        Address = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _accepting = AcceptAsync();
    }

    public Uri Address { get; }

    public OriginCounter Counter { get; } = new();

    public int Executions => Counter.Executions;

    /// <summary>Starts an origin; <paramref name="respond"/> gets each request's path.</summary>
    public static RawOrigin Start(Func<string, CancellationToken, Task<string?>> respond) => new(respond);

    /// <summary>A complete 200 response (keep-alive).</summary>
    public static string Ok(string body, string cacheControl = "no-store") =>
        $"HTTP/1.1 200 OK\r\nCache-Control: {cacheControl}\r\nContent-Length: {Encoding.ASCII.GetByteCount(body)}\r\n\r\n{body}";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptSocketAsync(_stop.Token);
            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var head = new StringBuilder();
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await socket.ReceiveAsync(buffer, _stop.Token);
                    if (read == 0)
                    {
                        return; // the client closed an idle connection
                    }

                    head.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                var path = head.ToString().Split(' ', 3)[1];
                string? response;
                using (Counter.Enter())
                {
                    using var closed = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                    var watch = WatchForCloseAsync(socket, closed); // no pipelining: any read now is the client closing
                    try
                    {
                        response = await _respond(path, closed.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return; // the client gave up on this request and closed the connection
                    }
                    finally
                    {
                        await closed.CancelAsync();
                        await watch;
                    }
                }

                if (response is null)
                {
                    socket.Shutdown(SocketShutdown.Both); // a clean close (FIN) without a byte of response
                    return;
                }

                await socket.SendAsync(Encoding.ASCII.GetBytes(response), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private static async Task WatchForCloseAsync(Socket socket, CancellationTokenSource closed)
    {
        try
        {
            if (await socket.ReceiveAsync(new byte[1], closed.Token) == 0)
            {
                await closed.CancelAsync();
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            await closed.CancelAsync();
        }
    }
}
