using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port, no persistence; or, when <see cref="Flavor"/> is Garnet, a real
/// <c>garnet-server</c> started the way StampedeGuard.Redis needs it (<c>--lua --lua-transaction-mode</c>). Kill it
/// (SIGKILL) and start it again on the same port to test outages. A missing server fails the test (never a skip), with
/// or without <c>CI=true</c>.
/// </summary>
public sealed class RedisServer : IAsyncDisposable, IDisposable
{
    private readonly string[] _extraArguments;
    private readonly GarnetLua _lua;
    private Process? _process;

    private RedisServer(int port, string directory, string[] extraArguments, GarnetLua lua)
    {
        Port = port;
        Directory = directory;
        _extraArguments = extraArguments;
        _lua = lua;
    }

    /// <summary>The server the tests start, from <c>STAMPEDEGUARD_REDIS_SERVER</c> (<c>redis</c>, the default, or <c>garnet</c>).</summary>
    public static RedisServerFlavor Flavor { get; } = Environment.GetEnvironmentVariable("STAMPEDEGUARD_REDIS_SERVER")?.Trim().ToLowerInvariant() switch
    {
        null or "" or "redis" => RedisServerFlavor.Redis,
        "garnet" => RedisServerFlavor.Garnet,
        var other => throw new InvalidOperationException($"STAMPEDEGUARD_REDIS_SERVER={other}: expected redis or garnet."),
    };

    /// <summary>The program this flavor runs, for messages.</summary>
    public static string Name => Flavor == RedisServerFlavor.Garnet ? "garnet-server" : "redis-server";

    public int Port { get; }

    public string Directory { get; }

    public string EndPoint => $"127.0.0.1:{Port}";

    /// <summary>A StackExchange.Redis configuration string for this server that fails fast while it is down.</summary>
    public string Configuration => $"{EndPoint},abortConnect=false,connectTimeout=1000,syncTimeout=2000,connectRetry=1";

    public bool IsRunning => _process is { HasExited: false };

    public static string Executable => Flavor == RedisServerFlavor.Garnet ? FindGarnet() : FindExecutable("redis-server");

    /// <summary>Starts a server of <see cref="Flavor"/>; <paramref name="extraArguments"/> are that server's own options.</summary>
    public static Task<RedisServer> StartAsync(params string[] extraArguments) => StartAsync(GarnetLua.Atomic, extraArguments);

    /// <summary>
    /// A server that refuses Lua scripts, as users meet it: Garnet started without <c>--lua</c> (as its docs show), or
    /// a redis-server with EVAL and EVALSHA renamed away (as a managed service with scripting off answers).
    /// </summary>
    public static Task<RedisServer> StartWithoutScriptingAsync() =>
        Flavor == RedisServerFlavor.Garnet ? StartAsync(GarnetLua.Off) : StartAsync(GarnetLua.Atomic, "--rename-command", "EVAL", "", "--rename-command", "EVALSHA", "");

    /// <summary>
    /// Garnet with <c>--lua</c> but without <c>--lua-transaction-mode</c>: it runs scripts, but not one at a time (a
    /// script's commands interleave with other clients'). Only on the Garnet pass.
    /// </summary>
    public static Task<RedisServer> StartGarnetWithoutLuaTransactionModeAsync() =>
        Flavor == RedisServerFlavor.Garnet ? StartAsync(GarnetLua.Interleaved) : throw new InvalidOperationException("Only on Garnet (STAMPEDEGUARD_REDIS_SERVER=garnet).");

    private static async Task<RedisServer> StartAsync(GarnetLua lua, params string[] extraArguments)
    {
        var directory = Path.Combine(Path.GetTempPath(), "sg-redis-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory);
        var server = new RedisServer(FreePort(), directory, extraArguments, lua);
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

    /// <summary><c>STAMPEDEGUARD_GARNET_SERVER</c> (the garnet-server that build.sh installs), else garnet-server on PATH or in ~/.dotnet/tools.</summary>
    private static string FindGarnet()
    {
        if (Environment.GetEnvironmentVariable("STAMPEDEGUARD_GARNET_SERVER") is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : throw new InvalidOperationException($"STAMPEDEGUARD_GARNET_SERVER={configured}: no such file.");
        }

        var tools = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "garnet-server");
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(dir, "garnet-server")))
            {
                return Path.Combine(dir, "garnet-server");
            }
        }

        return File.Exists(tools) ? tools : throw new InvalidOperationException("STAMPEDEGUARD_REDIS_SERVER=garnet but garnet-server was not found: set STAMPEDEGUARD_GARNET_SERVER to it, or install it (./build.sh test does: dotnet tool install garnet-server --tool-path artifacts/tools/garnet-<version>).");
    }

    /// <summary>Starts (or restarts) the server on its port and waits until it answers PING.</summary>
    public async Task StartAsync()
    {
        var info = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Directory };
        foreach (var argument in Arguments())
        {
            info.ArgumentList.Add(argument);
        }

        if (Flavor == RedisServerFlavor.Garnet)
        {
            // Garnet ships with server GC (a heap and a GC thread per core): the suite runs several servers at once
            // beside the test processes on 2 shared cores, so each runs workstation GC, as a small deployment would.
            // The tests are about StampedeGuard's behaviour on Garnet, not Garnet's throughput.
            info.Environment["DOTNET_gcServer"] = "0";
        }

        var output = new Queue<string>();
        void Keep(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.Enqueue(line);
                if (output.Count > 20)
                {
                    output.Dequeue();
                }
            }
        }

        var process = _process = Process.Start(info) ?? throw new InvalidOperationException($"{Name} did not start.");
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // Garnet is a .NET program: its first start JITs for a few seconds (more on a loaded 2-core machine). A server
        // that exits (a refused option: Garnet exits 0 then) fails the start at once, with what it said.
        var timeout = TimeSpan.FromSeconds(Flavor == RedisServerFlavor.Garnet ? 60 : 20);
        var ready = WaitUntilReadyAsync(Port, timeout);
        if (await Task.WhenAny(ready, process.WaitForExitAsync()).ConfigureAwait(false) != ready)
        {
            await Task.Delay(100).ConfigureAwait(false); // the last lines of its output
            lock (output)
            {
                throw new InvalidOperationException($"{Name} {string.Join(' ', info.ArgumentList)} exited with {process.ExitCode} before it answered PING: {string.Join('\n', output)}");
            }
        }

        await ready.ConfigureAwait(false);
        if (Flavor == RedisServerFlavor.Garnet)
        {
            await GarnetWarmUp.RunAsync(Port, scripting: _lua != GarnetLua.Off).ConfigureAwait(false);
        }
    }

    private List<string> Arguments()
    {
        var arguments = Flavor == RedisServerFlavor.Garnet
            ? new List<string>
            {
                // Anything it could write (checkpoints; there is no tiered log without --storage-tier, and --logdir
                // without it is refused) goes to this server's temp folder, its working directory too; memory is
                // kept small (the main log grows page by page up to --memory); INFO commandstats is on, as on Redis.
                // --lua-transaction-mode makes a script atomic (its KEYS locked while it runs): without it two scripts
                // interleave (docs/redis.md, GarnetScriptingTests).
                "--port", Port.ToString(), "--bind", "127.0.0.1", "-q", "--checkpointdir", Directory,
                "--memory", "1g", "--index", "16m", "--commandstats-monitor",
            }
            : ["--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Directory, "--protected-mode", "no"];
        if (Flavor == RedisServerFlavor.Garnet && _lua != GarnetLua.Off)
        {
            arguments.AddRange(_lua == GarnetLua.Atomic ? ["--lua", "--lua-transaction-mode"] : ["--lua"]);
        }

        arguments.AddRange(_extraArguments);
        return arguments;
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
                throw new TimeoutException($"{Name} on port {port} did not answer PING within {timeout}.");
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

    /// <summary>How a Garnet server runs Lua scripts (a redis-server always runs them, one at a time).</summary>
    private enum GarnetLua
    {
        Off,
        Atomic,
        Interleaved,
    }
}
