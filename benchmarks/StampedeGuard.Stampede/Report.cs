using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Spectre.Console;

namespace StampedeGuard.Stampede;

/// <summary>The table, on the console (Spectre.Console) and in markdown.</summary>
internal static class Report
{
    private static readonly string[] Headers =
        ["Strategy", "Calls", "Factory runs", "Peak concurrency", "p50", "p99", "p99.9", "Max", "Calls > 100 ms", "Oldest value served"];

    public static void Print(IReadOnlyList<StrategyResult> results, Scenario scenario)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]Landing-page stampede[/]: {Markup.Escape(scenario.Describe())}");
        table.AddColumn(Headers[0]);
        foreach (var header in Headers.Skip(1))
        {
            table.AddColumn(new TableColumn(header).RightAligned());
        }

        foreach (var r in results)
        {
            table.AddRow(Cells(r, scenario).Select(Markup.Escape).ToArray());
        }

        AnsiConsole.Write(table);
    }

    public static string Markdown(IReadOnlyList<StrategyResult> results, Scenario scenario)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Scenario: {scenario.Describe()}; one warm-up call first.\n");
        text.Append(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.\n\n");
        text.Append("| ").AppendJoin(" | ", Headers).Append(" |\n");
        text.Append("|---").Append(string.Concat(Enumerable.Repeat("|---:", Headers.Length - 1))).Append("|\n");
        foreach (var r in results)
        {
            text.Append("| ").AppendJoin(" | ", Cells(r, scenario)).Append(" |\n");
        }

        return text.ToString();
    }

    /// <summary>Milliseconds with as many decimals as are meaningful.</summary>
    public static string Ms(TimeSpan time)
    {
        var ms = time.TotalMilliseconds;
        var format = ms < 1 ? "0.000" : ms < 100 ? "0.0" : "0";
        return ms.ToString(format, CultureInfo.InvariantCulture) + " ms";
    }

    private static IEnumerable<string> Cells(StrategyResult r, Scenario scenario)
    {
        yield return r.Strategy.Name;
        yield return r.CallsServed.ToString(CultureInfo.InvariantCulture);
        yield return r.FactoryRuns.ToString(CultureInfo.InvariantCulture);
        yield return r.PeakConcurrency.ToString(CultureInfo.InvariantCulture);
        yield return Ms(r.P50);
        yield return Ms(r.P99);
        yield return Ms(r.P999);
        yield return Ms(r.Max);
        yield return r.SlowCalls.ToString(CultureInfo.InvariantCulture);
        yield return Ms(r.OldestServed) + (r.OldestServed > scenario.Ttl ? " (> TTL)" : "");
    }
}
