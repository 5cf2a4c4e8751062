using System.Diagnostics;
using System.Reflection;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>
/// The accelerator ships as a .NET tool: pack it (from this test run's build), install it from the local package
/// folder with <c>dotnet tool install --tool-path</c>, and run the installed command without arguments.
/// Isolated from the machine: a temporary nuget.config with only that folder, its own NuGet package cache.
/// </summary>
public sealed class ToolPackageTests : IDisposable
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(80);
    private readonly string _root = Directory.CreateTempSubdirectory("sg-tool-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task PackedTool_InstalledFromLocalFolder_RunsAndWithoutArgumentsPrintsUsageAndExits2()
    {
        var project = Path.Combine(RepositoryRoot(), "src", "StampedeGuard.Accelerator", "StampedeGuard.Accelerator.csproj");
        var configuration = typeof(AcceleratorApp).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        var packages = Path.Combine(_root, "packages");
        var tools = Path.Combine(_root, "tools");
        var config = Path.Combine(_root, "nuget.config");
        await File.WriteAllTextAsync(config, "<configuration><packageSources><clear /></packageSources></configuration>");
        var stopwatch = Stopwatch.StartNew();

        var pack = await RunAsync(Dotnet(), [
            "pack", project, "-c", configuration, "--no-build", "-nodeReuse:false", "-o", packages,
            $"-p:PublishDir={Path.Combine(_root, "publish")}/", $"-p:NuspecOutputPath={Path.Combine(_root, "nuspec")}/"]);
        pack.ExitCode.Should().Be(0, pack.Output);
        Directory.GetFiles(packages, "StampedeGuard.Accelerator.*.nupkg").Should().ContainSingle();

        var install = await RunAsync(Dotnet(), [
            "tool", "install", "--tool-path", tools, "StampedeGuard.Accelerator", "--add-source", packages, "--configfile", config]);
        install.ExitCode.Should().Be(0, install.Output);

        var run = await RunAsync(Path.Combine(tools, "stampedeguard-accelerator"), []);
        run.ExitCode.Should().Be(2, run.Output);
        run.Output.Should().Contain("usage: stampedeguard-accelerator --origin URL");
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(150), "pack, install and run stay quick");
    }

    [Fact]
    public void MiddlewarePackage_ReferencesNoYarp_OnlyTheAcceleratorCarriesIt()
    {
        typeof(StampedeGuard.AspNetCore.StampedeResponseCachingOptions).Assembly.GetReferencedAssemblies()
            .Should().NotContain(a => a.Name!.StartsWith("Yarp", StringComparison.Ordinal));
        typeof(AcceleratorApp).Assembly.GetReferencedAssemblies().Should().Contain(a => a.Name == "Yarp.ReverseProxy");
    }

    private async Task<(int ExitCode, string Output)> RunAsync(string fileName, string[] arguments)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _root };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The child is a fresh CLI: none of this test run's MSBuild state, its own package cache (no stale copy of 0.1.0).
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["NUGET_PACKAGES"] = Path.Combine(_root, "nuget-cache");
        start.Environment["DOTNET_CLI_HOME"] = Path.Combine(_root, "home");
        if (Path.IsPathRooted(Dotnet()))
        {
            start.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(Dotnet()); // where the installed tool's apphost finds the runtime
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StepTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {StepTimeout}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    private static string Dotnet()
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }

        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "StampedeGuard.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("StampedeGuard.sln not found above " + AppContext.BaseDirectory);
    }
}
