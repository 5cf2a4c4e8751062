using System.Diagnostics;
using System.Reflection;
using StampedeGuard.TestSupport.Processes;

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
        var project = Path.Combine(ChildProcess.RepositoryRoot(), "src", "StampedeGuard.Accelerator", "StampedeGuard.Accelerator.csproj");
        var configuration = typeof(AcceleratorApp).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        var packages = Path.Combine(_root, "packages");
        var tools = Path.Combine(_root, "tools");
        var config = Path.Combine(_root, "nuget.config");
        await File.WriteAllTextAsync(config, "<configuration><packageSources><clear /></packageSources></configuration>");
        var stopwatch = Stopwatch.StartNew();

        var pack = await RunAsync(ChildProcess.Dotnet(), [
            "pack", project, "-c", configuration, "--no-build", "-nodeReuse:false", "-o", packages,
            $"-p:PublishDir={Path.Combine(_root, "publish")}/", $"-p:NuspecOutputPath={Path.Combine(_root, "nuspec")}/"]);
        pack.ExitCode.Should().Be(0, pack.Output);
        Directory.GetFiles(packages, "StampedeGuard.Accelerator.*.nupkg").Should().ContainSingle();

        var install = await RunAsync(ChildProcess.Dotnet(), [
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
        // Its own package cache (no stale copy of 0.1.0) and CLI home; the installed tool's apphost finds the runtime by DOTNET_ROOT.
        var environment = new Dictionary<string, string>
        {
            ["NUGET_PACKAGES"] = Path.Combine(_root, "nuget-cache"),
            ["DOTNET_CLI_HOME"] = Path.Combine(_root, "home"),
        };
        if (Path.IsPathRooted(ChildProcess.Dotnet()))
        {
            environment["DOTNET_ROOT"] = Path.GetDirectoryName(ChildProcess.Dotnet())!;
        }

        var run = await ChildProcess.RunAsync(fileName, arguments, _root, StepTimeout, environment);
        return (run.ExitCode, run.Output);
    }
}
