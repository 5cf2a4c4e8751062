using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port, no persistence. Kill it (SIGKILL) and start it again on the same
/// port to test outages. A missing redis-server fails the test (never a skip), with or without <c>CI=true</c>.
/// </summary>
public sealed class RedisServer : IAsyncDisposable, IDisposable
{
    private readonly string[] _extraArguments;
    private Process? _process;

    private RedisServer(int port, string directory, string[] extraArguments)
    {
        Port = port;
        Directory = directory;
        _extraArguments = extraArguments;
    }

    public int Port { get; }

    public string Directory { get; }

    public string EndPoint => $"127.0.0.1:{Port}";

    /// <summary>A StackExchange.Redis configuration string for this server that fails fast while it is down.</summary>
    public string Configuration => $"{EndPoint},abortConnect=false,connectTimeout=1000,syncTimeout=2000,connectRetry=1";

    public bool IsRunning => _process is { HasExited: false };

    public static string Executable => FindExecutable("redis-server");

    public static async Task<RedisServer> StartAsync(params string[] extraArguments)
    {
        var directory = Path.Combine(Path.GetTempPath(), "sg-redis-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory);
        var server = new RedisServer(FreePort(), directory, extraArguments);
        await server.StartAsync().ConfigureAwait(false);
        return server;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public static string FindExecutable(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Append("/usr/bin").Append("/usr/local/bin"))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"{name} was not found on PATH. Install it (./build.sh test does: apt-get install redis-server). Redis tests fail rather than skip when it is missing{(Environment.GetEnvironmentVariable("CI") == "true" ? " (CI=true)" : string.Empty)}.");
    }

    /// <summary>Starts (or restarts) the server on its port and waits until it answers PING.</summary>
    public async Task StartAsync()
    {
        var arguments = new List<string> { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Directory, "--protected-mode", "no" };
        arguments.AddRange(_extraArguments);
        var info = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await WaitUntilReadyAsync(Port, TimeSpan.FromSeconds(20)).ConfigureAwait(false);
    }

    /// <summary>Kills the server with SIGKILL (no shutdown, no goodbye to clients) and waits for it to exit.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs a redis-cli command against this server and returns its output.</summary>
    public Task<string> CliAsync(params string[] arguments) => RedisCli.RunAsync(["-h", "127.0.0.1", "-p", Port.ToString(), .. arguments]);

    public static async Task WaitUntilReadyAsync(int port, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
                var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray()).ConfigureAwait(false);
                var buffer = new byte[64];
                var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                if (read > 0 && System.Text.Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception) when (stopwatch.Elapsed < timeout)
            {
            }

            if (stopwatch.Elapsed >= timeout)
            {
                throw new TimeoutException($"redis-server on port {port} did not answer PING within {timeout}.");
            }

            await Task.Delay(25).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        Dispose();
    }

    public void Dispose()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                _process.Kill();
            }

            _process?.Dispose();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (InvalidOperationException)
        {
        }
    }
}
