using StampedeGuard.Redis.Tests.Infrastructure;

namespace StampedeGuard.Redis.Tests.History;

/// <summary>One node of a history run: a StampedeGuard.Redis.HistoryWorker process and the history file it writes.</summary>
public sealed class HistoryWorkerProcess : IAsyncDisposable
{
    private readonly WorkerProcess _process;

    private HistoryWorkerProcess(string node, string file, WorkerProcess process)
    {
        Node = node;
        File = file;
        _process = process;
    }

    public string Node { get; }

    /// <summary>Its history file.</summary>
    public string File { get; }

    public int Id => _process.Id;

    public bool Killed => _process.Killed;

    public static async Task<HistoryWorkerProcess> StartAsync(string node, string file, params string[] arguments) =>
        new(node, file, await WorkerProcess.StartWorkerAsync("StampedeGuard.Redis.HistoryWorker", ["--node", node, .. arguments]));

    public string LastErrors(int count) => _process.LastErrors(count);

    public Task SendAsync(string line) => _process.SendAsync(line);

    public Task<string> ExpectAsync(string prefix, TimeSpan timeout) => _process.ExpectAsync(prefix, timeout);

    /// <summary>SIGKILL: its operations in flight stay without a return line (indeterminate).</summary>
    public Task KillAsync() => _process.KillAsync();

    public void Stop() => _process.Stop();

    public void Continue() => _process.Continue();

    public Task QuitAsync(TimeSpan timeout) => _process.QuitAsync(timeout);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
