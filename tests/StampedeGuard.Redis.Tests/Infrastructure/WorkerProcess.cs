using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace StampedeGuard.Redis.Tests.Infrastructure;

/// <summary>A StampedeGuard.Redis.Worker OS process driven over stdin/stdout.</summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _errors = [];

    private WorkerProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.Writer.TryComplete();
            }
            else
            {
                _lines.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_errors)
                {
                    _errors.Add(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return string.Join('\n', _errors);
            }
        }
    }

    public static async Task<WorkerProcess> StartAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(WorkerPath);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var worker = new WorkerProcess(Process.Start(info)!);
        await worker.ExpectAsync("ready", TimeSpan.FromSeconds(60));
        return worker;
    }

    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public async Task<string> ReadLineAsync(TimeSpan timeout)
    {
        try
        {
            return await _lines.Reader.ReadAsync().AsTask().WaitAsync(timeout);
        }
        catch (Exception ex) when (ex is TimeoutException or ChannelClosedException)
        {
            throw new TimeoutException($"Worker {Id} said nothing within {timeout} ({ex.GetType().Name}). stderr: {Errors}", ex);
        }
    }

    public async Task<string> ExpectAsync(string prefix, TimeSpan timeout)
    {
        var line = await ReadLineAsync(timeout);
        line.Should().StartWith(prefix, "worker {0} stderr: {1}", Id, Errors);
        return line;
    }

    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public void Signal(int signal) => Kill(_process.Id, signal).Should().Be(0);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Signal(18); // SIGCONT, in case a test stopped it
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static string WorkerPath { get; } = FindWorker();

    private static string FindWorker()
    {
        // Test output: <root>/.../StampedeGuard.Redis.Tests/<...>; the worker is built next to it (same configuration).
        var baseDirectory = AppContext.BaseDirectory.TrimEnd('/');
        var testsFolder = "StampedeGuard.Redis.Tests";
        var index = baseDirectory.LastIndexOf(testsFolder, StringComparison.Ordinal);
        var candidate = baseDirectory[..index] + "StampedeGuard.Redis.Worker" + baseDirectory[(index + testsFolder.Length)..] + "/StampedeGuard.Redis.Worker.dll";
        if (File.Exists(candidate))
        {
            return candidate;
        }

        throw new FileNotFoundException($"The worker was not built at {candidate}.");
    }
}
