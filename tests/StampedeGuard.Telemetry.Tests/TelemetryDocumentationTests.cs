using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Telemetry.Tests;

/// <summary>docs/telemetry.md lists every instrument each meter publishes, with its type and unit.</summary>
public sealed partial class TelemetryDocumentationTests
{
    [Fact]
    public void Docs_EngineMeter_ListsEveryInstrumentWithItsTypeAndUnit()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var cache = new StampedeCache(meterFactory: factory);

        var published = Published(factory, "StampedeGuard");

        published.Should().HaveCount(12).And.BeEquivalentTo(Documented("StampedeGuard"));
    }

    [Fact]
    public async Task Docs_HttpMeter_ListsEveryInstrumentWithItsTypeAndUnit()
    {
        await using var app = await KestrelApp.StartAsync(TimeProvider.System, a => a.MapGet("/", () => "x"));
        (await app.Client.GetAsync("/")).StatusCode.Should().Be(HttpStatusCode.OK);

        var published = Published(app.MeterFactory, "StampedeGuard.AspNetCore");

        published.Should().HaveCount(6).And.BeEquivalentTo(Documented("StampedeGuard.AspNetCore"));
    }

    private static List<(string Name, string Type, string? Unit)> Published(IMeterFactory scope, string meter)
    {
        var found = new List<(string, string, string?)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, scope) && instrument.Meter.Name == meter)
                {
                    found.Add((instrument.Name, instrument.GetType().Name.StartsWith("Histogram", StringComparison.Ordinal) ? "histogram" : "counter", instrument.Unit));
                }
            },
        };
        listener.Start();
        return found;
    }

    /// <summary>The rows of the table under the heading "Metrics: meter `name`".</summary>
    private static List<(string Name, string Type, string? Unit)> Documented(string meter)
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "telemetry.md"));
        var section = text[text.IndexOf($"## Metrics: meter `{meter}`", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 4, StringComparison.Ordinal)];
        return Row().Matches(section).Select(m => (m.Groups[1].Value, m.Groups[2].Value, (string?)m.Groups[3].Value)).ToList();
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(dir.FullName, "StampedeGuard.sln")))
        {
            dir = dir.Parent ?? throw new InvalidOperationException("StampedeGuard.sln not found above the test binaries.");
        }

        return dir.FullName;
    }

    [GeneratedRegex(@"^\| `([a-z_.]+)` \| (counter|histogram) \| `([^`]+)` \|", RegexOptions.Multiline)]
    private static partial Regex Row();
}
