using System.Text.RegularExpressions;
using StampedeGuard.TestSupport.Processes;

namespace StampedeGuard.Aot.Tests;

/// <summary>
/// tests/StampedeGuard.AotSmoke published once per test run with <c>PublishAot=true</c> for linux-x64, into
/// artifacts/aot-smoke (its own build output: the solution's bin and obj folders stay as they are). Nothing is published
/// when the native toolchain is missing; the tests then fail or skip (<see cref="AotFactAttribute"/>).
/// </summary>
public sealed partial class PublishedSmokeApp : IAsyncLifetime
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(15);

    /// <summary>Gets the publish, or null when it was not attempted.</summary>
    internal ChildProcess? Publish { get; private set; }

    /// <summary>Gets the native binary's path.</summary>
    public string Binary { get; private set; } = string.Empty;

    /// <summary>Gets every distinct trim (IL2xxx) and AOT (IL3xxx) warning or error line the publish printed.</summary>
    public IReadOnlyList<string> TrimAndAotDiagnostics =>
        Publish is null ? [] : Publish.Output.Split('\n').Where(line => TrimOrAotDiagnostic().IsMatch(line)).Select(line => line.Trim()).Distinct().ToList();

    public async Task InitializeAsync()
    {
        if (NativeToolchain.Missing is not null)
        {
            return;
        }

        var root = ChildProcess.RepositoryRoot();
        var artifacts = Path.Combine(root, "artifacts", "aot-smoke");
        var output = Path.Combine(artifacts, "publish");
        if (Directory.Exists(output))
        {
            Directory.Delete(output, recursive: true); // never run an earlier run's binary
        }

        Binary = Path.Combine(output, "StampedeGuard.AotSmoke");
        Publish = await ChildProcess.RunAsync(
            ChildProcess.Dotnet(),
            ["publish", Path.Combine(root, "tests", "StampedeGuard.AotSmoke", "StampedeGuard.AotSmoke.csproj"),
             "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true", "--artifacts-path", artifacts, "-o", output, "-nodeReuse:false"],
            root,
            PublishTimeout);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [GeneratedRegex(@"\b(?:warning|error)\s+IL[23]\d{3}\b")]
    private static partial Regex TrimOrAotDiagnostic();
}
