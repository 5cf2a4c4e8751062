namespace StampedeGuard.Stampede;

/// <summary>
/// One picture per strategy, like DiskCache's: factory runs in progress over time (top) and every call's latency
/// over time (bottom), time zero being the warm-up call.
/// </summary>
internal static class Chart
{
    private const int Width = 900;
    private const int Left = 60;
    private const int Right = 20;
    private const double PlotWidth = Width - Left - Right;

    public static string Render(StrategyResult result, Scenario scenario)
    {
        var svg = new SvgWriter(Width, 540);
        svg.Rect(0, 0, Width, 540, "white");
        svg.Text(Left, 24, result.Strategy.Name, 16, weight: "bold");
        svg.Text(Left, 42, scenario.Describe(), 11);

        var seconds = (double)(Math.Max(
            result.Calls.Select(c => c.Start + c.Latency).DefaultIfEmpty(result.RunStart).Max(),
            result.Runs.Select(r => r.End).DefaultIfEmpty(result.RunStart).Max()) - result.RunStart) / TimeSpan.TicksPerSecond;
        seconds = Math.Max(1, Math.Ceiling(seconds));
        double X(long ticks) => Left + (PlotWidth * (ticks - result.RunStart) / TimeSpan.TicksPerSecond / seconds);

        // Top: factory concurrency, a step line.
        var peakAxis = Math.Max(2, result.PeakConcurrency);
        Panel(svg, 70, 150, seconds, peakAxis, "factory runs in progress", v => v.ToString("0"), Math.Max(1, peakAxis / 5));
        double ConcurrencyY(double v) => 70 + 150 - (150 * v / peakAxis);
        var points = new List<(double, double)> { (Left, ConcurrencyY(0)) };
        var current = 0;
        foreach (var (at, delta) in result.Runs.SelectMany(r => new[] { (r.Start, 1), (r.End, -1) }).OrderBy(e => e.Item1).ThenBy(e => e.Item2))
        {
            points.Add((X(at), ConcurrencyY(current)));
            current += delta;
            points.Add((X(at), ConcurrencyY(current)));
        }

        points.Add((Left + PlotWidth, ConcurrencyY(current)));
        svg.Polyline(points, "#1f77b4");

        // Bottom: each call's latency, one dot per call; the 100 ms line marks a slow call.
        var maxMs = Math.Max(250, Math.Ceiling(result.Max.TotalMilliseconds / 50) * 50);
        Panel(svg, 260, 220, seconds, maxMs, "call latency (ms)", v => v.ToString("0"), maxMs / 5);
        double LatencyY(double ms) => 260 + 220 - (220 * Math.Min(ms, maxMs) / maxMs);
        svg.Line(Left, LatencyY(Scenario.SlowCall.TotalMilliseconds), Left + PlotWidth, LatencyY(Scenario.SlowCall.TotalMilliseconds), "#d62728", 1, "4 3");
        svg.Dots(result.Calls.Select(c => (X(c.Start), LatencyY(TimeSpan.FromTicks(c.Latency).TotalMilliseconds) - 1.5)), "#ff7f0e");

        svg.Text(Left, 525, $"{result.CallsServed} calls, {result.FactoryRuns} factory runs, peak concurrency {result.PeakConcurrency}, {result.SlowCalls} calls over {Scenario.SlowCall.TotalMilliseconds:0} ms, p99.9 {Report.Ms(result.P999)}, oldest value {Report.Ms(result.OldestServed)}", 12);
        return svg.ToString();
    }

    private static void Panel(SvgWriter svg, double top, double height, double seconds, double max, string title, Func<double, string> label, double step)
    {
        svg.Text(Left, top - 8, title, 12, weight: "bold");
        svg.Rect(Left, top, PlotWidth, height, "none", "#999");
        for (var v = 0.0; v <= max + 1e-9; v += step)
        {
            var y = top + height - (height * v / max);
            svg.Line(Left - 4, y, Left + PlotWidth, y, "#eee");
            svg.Text(Left - 8, y + 4, label(v), 10, "end");
        }

        var every = seconds > 30 ? 5 : 1;
        for (var s = 0; s <= seconds; s += every)
        {
            var x = Left + (PlotWidth * s / seconds);
            svg.Line(x, top + height, x, top + height + 4, "#999");
            svg.Text(x, top + height + 16, $"{s} s", 10, "middle");
        }
    }
}
