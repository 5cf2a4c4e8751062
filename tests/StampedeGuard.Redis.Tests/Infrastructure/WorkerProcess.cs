using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace StampedeGuard.Redis.Tests.Infrastructure;

/// <summary>
/// A worker OS process (StampedeGuard.Redis.Worker, or another worker project built beside the tests) driven over
/// stdin/stdout: it says "ready" once started; SIGSTOP/SIGCONT pause and resume it.
/// </summary>
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

    /// <summary>The project name of the default worker.</summary>
    public const string DefaultWorker = "StampedeGuard.Redis.Worker";

    public int Id => _process.Id;

    /// <summary>Gets whether the test killed it (its operations in flight then stay without an answer).</summary>
    public bool Killed { get; private set; }

    public string Errors => LastErrors(int.MaxValue);

    public string LastErrors(int count)
    {
        lock (_errors)
        {
            return string.Join('\n', _errors.TakeLast(count));
        }
    }

    public static Task<WorkerProcess> StartAsync(params string[] arguments) => StartWorkerAsync(DefaultWorker, arguments);

    /// <summary>Starts the worker built from the project <paramref name="worker"/> and waits for its "ready".</summary>
    public static async Task<WorkerProcess> StartWorkerAsync(string worker, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(WorkerPath(worker));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var started = new WorkerProcess(Process.Start(info)!);
        await started.ExpectAsync("ready", TimeSpan.FromSeconds(60));
        return started;
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
            throw new TimeoutException($"Worker {Id} said nothing within {timeout} ({ex.GetType().Name}). stderr: {LastErrors(30)}", ex);
        }
    }

    public async Task<string> ExpectAsync(string prefix, TimeSpan timeout)
    {
        var line = await ReadLineAsync(timeout);
        line.Should().StartWith(prefix, "worker {0} stderr: {1}", Id, LastErrors(30));
        return line;
    }

    /// <summary>SIGKILL.</summary>
    public async Task KillAsync()
    {
        Killed = true;
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public void Signal(int signal) => Kill(_process.Id, signal).Should().Be(0);

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
                Continue(); // in case a test stopped it
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

    private static string WorkerPath(string worker)
    {
        // Test output: <root>/.../StampedeGuard.Redis.Tests/<...>; the worker is built next to it (same configuration).
        var baseDirectory = AppContext.BaseDirectory.TrimEnd('/');
        const string testsFolder = "StampedeGuard.Redis.Tests";
        var index = baseDirectory.LastIndexOf(testsFolder, StringComparison.Ordinal);
        var candidate = baseDirectory[..index] + worker + baseDirectory[(index + testsFolder.Length)..] + "/" + worker + ".dll";
        return File.Exists(candidate) ? candidate : throw new FileNotFoundException($"The worker {worker} was not built at {candidate}.");
    }
}
