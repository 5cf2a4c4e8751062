using System.Globalization;
using System.Text;

namespace StampedeGuard.Stampede;

/// <summary>
/// The raw data as CSV: readable columns (seconds since the warm-up, milliseconds) followed by exact UTC ticks, which
/// is also how child processes hand their samples to the parent.
/// </summary>
internal static class CsvFiles
{
    private const string CallsHeader = "t_s,latency_ms,age_ms,warm_up,start_ticks,latency_ticks,age_ticks";
    private const string RunsHeader = "start_s,end_s,duration_ms,start_ticks,end_ticks";

    public static void WriteCalls(string path, IEnumerable<CallSample> calls, long runStart)
    {
        var text = new StringBuilder(CallsHeader).Append('\n');
        foreach (var c in calls)
        {
            text.Append(CultureInfo.InvariantCulture, $"{Seconds(c.Start - runStart):0.000000},{Ms(c.Latency):0.000},{Ms(c.Age):0.000},{(c.WarmUp ? 1 : 0)},{c.Start},{c.Latency},{c.Age}\n");
        }

        File.WriteAllText(path, text.ToString());
    }

    public static void WriteRuns(string path, IEnumerable<FactoryRun> runs, long runStart)
    {
        var text = new StringBuilder(RunsHeader).Append('\n');
        foreach (var r in runs)
        {
            text.Append(CultureInfo.InvariantCulture, $"{Seconds(r.Start - runStart):0.000000},{Seconds(r.End - runStart):0.000000},{Ms(r.End - r.Start):0.000},{r.Start},{r.End}\n");
        }

        File.WriteAllText(path, text.ToString());
    }

    public static IEnumerable<CallSample> ReadCalls(string path) =>
        Rows(path).Select(f => new CallSample(long.Parse(f[4], CultureInfo.InvariantCulture), long.Parse(f[5], CultureInfo.InvariantCulture), long.Parse(f[6], CultureInfo.InvariantCulture), f[3] == "1"));

    public static IEnumerable<FactoryRun> ReadRuns(string path) =>
        Rows(path).Select(f => new FactoryRun(long.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture)));

    private static IEnumerable<string[]> Rows(string path) =>
        File.ReadLines(path).Skip(1).Where(l => l.Length > 0).Select(l => l.Split(','));

    private static double Seconds(long ticks) => ticks / (double)TimeSpan.TicksPerSecond;

    private static double Ms(long ticks) => ticks / (double)TimeSpan.TicksPerMillisecond;
}
