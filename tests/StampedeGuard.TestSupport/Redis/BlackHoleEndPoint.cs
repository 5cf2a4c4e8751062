using System.Net;
using System.Net.Sockets;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// A loopback port that accepts TCP connections (the kernel completes the handshake) and never answers: a Redis that
/// hangs, so a client waits for its whole connect timeout instead of failing fast on a refused port.
/// </summary>
public sealed class BlackHoleEndPoint : IDisposable
{
    private readonly TcpListener _listener;

    private BlackHoleEndPoint(TcpListener listener) => _listener = listener;

    public string EndPoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public static BlackHoleEndPoint Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(backlog: 64);
        return new BlackHoleEndPoint(listener);
    }

    public void Dispose() => _listener.Stop();
}
