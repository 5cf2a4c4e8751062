namespace StampedeGuard.Stampede;

/// <summary>What one strategy did in one run: the raw samples and the numbers of the table.</summary>
internal sealed class StrategyResult
{
    public StrategyResult(StrategyDefinition strategy, long runStart, CallSample[] calls, FactoryRun[] runs)
    {
        Strategy = strategy;
        RunStart = runStart;
        Calls = [.. calls.OrderBy(c => c.Start)];
        Runs = [.. runs.OrderBy(r => r.Start)];
        var measured = Calls.Where(c => !c.WarmUp).Select(c => c.Latency).Order().ToArray();
        CallsServed = measured.Length;
        FactoryRuns = Runs.Length;
        PeakConcurrency = Peak(Runs);
        P50 = Percentile(measured, 0.50);
        P99 = Percentile(measured, 0.99);
        P999 = Percentile(measured, 0.999);
        Max = measured.Length == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(measured[^1]);
        SlowCalls = measured.Count(l => l > Scenario.SlowCall.Ticks);
        OldestServed = TimeSpan.FromTicks(Calls.Where(c => !c.WarmUp).Select(c => c.Age).DefaultIfEmpty().Max());
    }

    public StrategyDefinition Strategy { get; }

    /// <summary>UTC ticks of the warm-up call: time zero of the pictures.</summary>
    public long RunStart { get; }

    public CallSample[] Calls { get; }

    public FactoryRun[] Runs { get; }

    public int CallsServed { get; }

    public int FactoryRuns { get; }

    public int PeakConcurrency { get; }

    public TimeSpan P50 { get; }

    public TimeSpan P99 { get; }

    public TimeSpan P999 { get; }

    public TimeSpan Max { get; }

    /// <summary>Calls slower than <see cref="Scenario.SlowCall"/>, the warm-up call excluded.</summary>
    public int SlowCalls { get; }

    /// <summary>The oldest value any call got: now - when its factory call completed.</summary>
    public TimeSpan OldestServed { get; }

    /// <summary>How many factory runs overlapped at most (an end and a start at the same tick do not overlap).</summary>
    public static int Peak(IEnumerable<FactoryRun> runs)
    {
        var events = runs.SelectMany(r => new[] { (At: r.Start, Delta: 1), (At: r.End, Delta: -1) })
            .OrderBy(e => e.At).ThenBy(e => e.Delta);
        int current = 0, peak = 0;
        foreach (var (_, delta) in events)
        {
            current += delta;
            peak = Math.Max(peak, current);
        }

        return peak;
    }

    /// <summary>Nearest-rank percentile of sorted latencies.</summary>
    private static TimeSpan Percentile(long[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return TimeSpan.Zero;
        }

        var rank = (int)Math.Ceiling(p * sorted.Length) - 1;
        return TimeSpan.FromTicks(sorted[Math.Clamp(rank, 0, sorted.Length - 1)]);
    }
}
