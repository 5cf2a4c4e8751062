using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using StampedeGuard.Stampede;
using Recorder = StampedeGuard.Stampede.Recorder;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (Console.IsOutputRedirected)
{
    // A log file or a pipe: plain text (no ANSI escapes, no colours) and no wrapping of the table at 80 columns.
    AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = AnsiSupport.No,
        ColorSystem = ColorSystemSupport.NoColors,
        Interactive = InteractionSupport.No,
        Out = new AnsiConsoleOutput(Console.Out),
    });
    AnsiConsole.Profile.Width = 200;
}

var duration = new Option<double>("--duration") { Description = "Seconds the workers run, per strategy.", DefaultValueFactory = _ => 10 };
var workers = new Option<int>("--workers") { Description = "Concurrent workers, each looping: call, then sleep 10 ms.", DefaultValueFactory = _ => 10 };
var factoryMs = new Option<double>("--factory-ms") { Description = "Fixed factory time in milliseconds.", DefaultValueFactory = _ => 200 };
var factoryMin = new Option<double?>("--factory-ms-min") { Description = "Drifting factory: shortest time (ms); with --factory-ms-max." };
var factoryMax = new Option<double?>("--factory-ms-max") { Description = "Drifting factory: longest time (ms); the time follows a triangle wave between the two." };
var driftPeriod = new Option<double?>("--drift-period") { Description = "Seconds of one full triangle (min, max, min). Default: the run duration." };
var ttl = new Option<double>("--ttl") { Description = "Seconds an entry is fresh.", DefaultValueFactory = _ => 1 };
var strategies = new Option<string?>("--strategies") { Description = "Comma-separated slug prefixes: no-cache, naive, double-checked, stampedeguard, xfetch, hybrid, fusion, redis. Default: all." };
var processes = new Option<int>("--processes") { Description = "Split the workers over this many OS processes.", DefaultValueFactory = _ => 1 };
var redis = new Option<string?>("--redis") { Description = "host:port of a Redis to coordinate through (adds the Redis strategies)." };
var output = new Option<string>("--output") { Description = "Folder for the SVG pictures and CSV data.", DefaultValueFactory = _ => Path.Combine("artifacts", "stampede") };
var markdown = new Option<string?>("--markdown") { Description = "Also write the table as markdown to this file." };
var child = new Option<bool>("--child") { Hidden = true };
var startAt = new Option<long>("--start-at") { Hidden = true };
var childOut = new Option<string?>("--child-out") { Hidden = true };

var root = new RootCommand("The landing-page stampede (DiskCache's case study) against several caching strategies, "
    + "HybridCache and FusionCache included. All strategies with the defaults take about 2 minutes (10 s each plus a short drain); "
    + "pictures, CSV and results.md go to artifacts/stampede/<factory profile>/ (see --output).")
{
    duration, workers, factoryMs, factoryMin, factoryMax, driftPeriod, ttl, strategies, processes, redis, output, markdown, child, startAt, childOut,
};

root.SetAction(async (parse, _) =>
{
    var runFor = TimeSpan.FromSeconds(parse.GetValue(duration));
    var min = parse.GetValue(factoryMin) ?? parse.GetValue(factoryMs);
    var max = parse.GetValue(factoryMax) ?? min;
    var period = TimeSpan.FromSeconds(parse.GetValue(driftPeriod) ?? runFor.TotalSeconds);
    var profile = min == max ? FactoryProfile.Fixed(TimeSpan.FromMilliseconds(min)) : new FactoryProfile(TimeSpan.FromMilliseconds(Math.Min(min, max)), TimeSpan.FromMilliseconds(Math.Max(min, max)), period);
    var scenario = new Scenario(runFor, parse.GetValue(workers), profile, TimeSpan.FromSeconds(parse.GetValue(ttl)), Math.Max(1, parse.GetValue(processes)), parse.GetValue(redis));
    if (scenario.Workers < 1 || scenario.Duration <= TimeSpan.Zero || scenario.Ttl <= TimeSpan.Zero || profile.Min < TimeSpan.Zero)
    {
        Console.Error.WriteLine("--workers, --duration and --ttl must be positive, factory times not negative.");
        return 2;
    }

    if (parse.GetValue(child))
    {
        var slug = parse.GetValue(strategies);
        var definition = StrategyCatalog.All(scenario).Single(d => d.Slug == slug);
        await ChildProcesses.RunChildAsync(definition, scenario, parse.GetValue(startAt), parse.GetValue(childOut)!);
        return 0;
    }

    var selected = StrategyCatalog.Select(scenario, parse.GetValue(strategies));
    if (selected.Count == 0)
    {
        Console.Error.WriteLine("No strategy matches --strategies.");
        return 2;
    }

    var folder = Path.GetFullPath(Path.Combine(parse.GetValue(output)!, profile.Slug() + (scenario.Processes > 1 ? $"-{scenario.Processes}p" : "")));
    Directory.CreateDirectory(folder);
    AnsiConsole.MarkupLine($"[bold]Landing-page stampede[/]: {Markup.Escape(scenario.Describe())}");
    var results = new List<StrategyResult>();
    foreach (var definition in selected)
    {
        AnsiConsole.MarkupLine($"  running {Markup.Escape(definition.Name)} ...");
        var recorder = new Recorder();
        long runStart;
        if (scenario.Processes > 1)
        {
            runStart = await ChildProcesses.RunAsync(definition, scenario, recorder);
        }
        else
        {
            runStart = Clock.Now;
            await Workload.RunAsync(definition, scenario, scenario.Workers, runStart, recorder);
        }

        var result = new StrategyResult(definition, runStart, recorder.Calls(), recorder.Runs());
        results.Add(result);
        CsvFiles.WriteCalls(Path.Combine(folder, $"{definition.Slug}-calls.csv"), result.Calls, runStart);
        CsvFiles.WriteRuns(Path.Combine(folder, $"{definition.Slug}-factory.csv"), result.Runs, runStart);
        await File.WriteAllTextAsync(Path.Combine(folder, $"{definition.Slug}.svg"), Chart.Render(result, scenario));
    }

    Report.Print(results, scenario);
    var table = Report.Markdown(results, scenario);
    await File.WriteAllTextAsync(Path.Combine(folder, "results.md"), table);
    if (parse.GetValue(markdown) is { } markdownPath)
    {
        await File.WriteAllTextAsync(markdownPath, table);
    }

    AnsiConsole.MarkupLine($"Pictures (one SVG per strategy), raw CSV and results.md: {Markup.Escape(folder)}");
    return 0;
});

return await root.Parse(args).InvokeAsync();
