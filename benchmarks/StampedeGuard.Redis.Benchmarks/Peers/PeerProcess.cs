using System.Diagnostics;
using System.Text;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>The parent's handle on one <see cref="PeerWorker"/>: this program started again with <c>--peer-worker</c>.</summary>
internal sealed class PeerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _errors = new();

    private PeerProcess(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) => { lock (_errors) { _errors.AppendLine(e.Data); } };
        _process.BeginErrorReadLine();
    }

    public static PeerProcess Start(PeerLibrary library, string configuration)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("Unknown process path.");
        var info = new ProcessStartInfo(host) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(typeof(PeerProcess).Assembly.Location);
        }

        foreach (var argument in new[] { "--peer-worker", library.ToString(), configuration })
        {
            info.ArgumentList.Add(argument);
        }

        return new PeerProcess(Process.Start(info) ?? throw new InvalidOperationException("Could not start a worker process."));
    }

    /// <summary>Sends one command and returns the words of its first answer.</summary>
    public async Task<string[]> SendAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        return await ReadAsync();
    }

    /// <summary>The words of the worker's next answer line.</summary>
    public async Task<string[]> ReadAsync()
    {
        var line = await _process.StandardOutput.ReadLineAsync();
        if (line is null)
        {
            await _process.WaitForExitAsync();
            lock (_errors)
            {
                throw new InvalidOperationException($"A worker exited ({_process.ExitCode}): {_errors}");
            }
        }

        return line.Split(' ');
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _process.StandardInput.WriteLineAsync("exit");
            await _process.StandardInput.FlushAsync();
        }
        catch (IOException)
        {
            // Already gone.
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}
