using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace StampedeGuard.Redis.Tests.History;

/// <summary>A StampedeGuard.Redis.HistoryWorker OS process (one node of a history run), driven over stdin/stdout.</summary>
public sealed class HistoryWorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _errors = [];

    private HistoryWorkerProcess(string node, string file, Process process)
    {
        Node = node;
        File = file;
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

    public string Node { get; }

    /// <summary>Its history file.</summary>
    public string File { get; }

    public int Id => _process.Id;

    public bool Killed { get; private set; }

    public string LastErrors(int count)
    {
        lock (_errors)
        {
            return string.Join('\n', _errors.TakeLast(count));
        }
    }

    public static async Task<HistoryWorkerProcess> StartAsync(string node, string file, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(WorkerPath);
        info.ArgumentList.Add("--node");
        info.ArgumentList.Add(node);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var worker = new HistoryWorkerProcess(node, file, Process.Start(info)!);
        await worker.ExpectAsync("ready", TimeSpan.FromSeconds(60));
        return worker;
    }

    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public async Task<string> ExpectAsync(string prefix, TimeSpan timeout)
    {
        string line;
        try
        {
            line = await _lines.Reader.ReadAsync().AsTask().WaitAsync(timeout);
        }
        catch (Exception ex) when (ex is TimeoutException or ChannelClosedException)
        {
            throw new TimeoutException($"Node {Node} (pid {Id}) said nothing within {timeout} ({ex.GetType().Name}). stderr: {LastErrors(30)}", ex);
        }

        line.Should().StartWith(prefix, "node {0} stderr: {1}", Node, LastErrors(30));
        return line;
    }

    /// <summary>SIGKILL: its operations in flight stay without a return line (indeterminate).</summary>
    public async Task KillAsync()
    {
        Killed = true;
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public void Stop() => Signal(19); // SIGSTOP

    public void Continue() => Signal(18); // SIGCONT

    /// <summary>Asks it to quit; kills it if it has not within the timeout.</summary>
    public async Task QuitAsync(TimeSpan timeout)
    {
        if (_process.HasExited)
        {
            return;
        }

        try
        {
            await SendAsync("quit");
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (Exception ex) when (ex is TimeoutException or IOException)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Continue();
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    private void Signal(int signal) => Kill(_process.Id, signal).Should().Be(0);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static string WorkerPath { get; } = FindWorker();

    private static string FindWorker()
    {
        // Test output: <root>/.../StampedeGuard.Redis.Tests/<...>; the worker is built next to it (same configuration).
        var baseDirectory = AppContext.BaseDirectory.TrimEnd('/');
        const string testsFolder = "StampedeGuard.Redis.Tests";
        var index = baseDirectory.LastIndexOf(testsFolder, StringComparison.Ordinal);
        var candidate = baseDirectory[..index] + "StampedeGuard.Redis.HistoryWorker" + baseDirectory[(index + testsFolder.Length)..] + "/StampedeGuard.Redis.HistoryWorker.dll";
        return System.IO.File.Exists(candidate) ? candidate : throw new FileNotFoundException($"The history worker was not built at {candidate}.");
    }
}
