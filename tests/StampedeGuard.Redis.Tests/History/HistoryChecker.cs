using System.Globalization;
using System.Text;

namespace StampedeGuard.Redis.Tests.History;

/// <summary>
/// Checks a multi-node history against the invalidation model, key by key.
/// <para>
/// <b>The model.</b> Once an invalidation I of key k (Set(k), Remove(k), Expire(k), RemoveByTag of one of k's tags,
/// RemoveByTag("*")) has returned successfully, no read of k (GetOrCreate, or TryGet not flagged stale) invoked after I
/// returned may return a value that I superseded:
/// <list type="bullet">
///   <item>a factory value (<c>f:</c>) whose factory run began before I was invoked;</item>
///   <item>a Set value (<c>s:</c>) whose Set returned successfully before I was invoked. A Set that overlaps I may
///   legitimately take effect after it (either order is a valid linearization), and a Set that failed or whose
///   process died may take effect at any later time (its request can still reach Redis), so neither is ever
///   superseded.</item>
/// </list>
/// Exceptions: a read on another node than I's may still return a superseded value when it was invoked within
/// <c>boundMs</c> of I's return (the delivery bound for other nodes' in-memory copies); the same node gets no bound.
/// A value superseded only by Expire may still be returned as stale: by a TryGet flagged stale, and by GetOrCreate
/// (ExpireAsync's documented semantics: the value stays servable as stale until its original fresh end while one
/// refresh runs; GetOrCreate cannot say it is stale); a TryGet not flagged stale may not. Stale reads must still
/// respect Set, Remove and RemoveByTag. A failed or indeterminate invalidation imposes nothing. A
/// value no operation produced (or produced for another key) is a violation too.
/// </para>
/// <para>
/// A key's tags are those its Set and GetOrCreate calls carried (the workload gives a key the same tags every time).
/// Things that can only be the harness's fault (a value produced twice, a read returning a value before its producer
/// began, a return before an invoke, unreadable lines) are reported as harness errors, apart from violations.
/// </para>
/// </summary>
public sealed class HistoryChecker(double boundMs)
{
    public double BoundMs { get; } = boundMs;

    public HistoryReport Check(History history)
    {
        var report = new HistoryReport(BoundMs, Origin(history));
        report.HarnessErrors.AddRange(history.LoadErrors);
        var factories = new Dictionary<string, FactoryRun>();
        foreach (var run in history.Factories)
        {
            if (!factories.TryAdd(run.Value, run))
            {
                report.HarnessErrors.Add($"value {run.Value} was produced by two factory runs");
            }

            if (run.End < run.Start)
            {
                report.HarnessErrors.Add($"factory run of {run.Value} ended before it started");
            }
        }

        var sets = new Dictionary<string, HistoryOperation>();
        foreach (var op in history.Operations)
        {
            if (op.Ret < op.Inv)
            {
                report.HarnessErrors.Add($"{Describe(op, report.T0)} returned before it was invoked");
            }

            if (op.Op == "Set" && op.Value is not null && !sets.TryAdd(op.Value, op))
            {
                report.HarnessErrors.Add($"value {op.Value} was written by two Sets");
            }
        }

        // One loop issues one operation at a time: if its operations overlap on the shared clock, the times are wrong.
        foreach (var loop in history.Operations.GroupBy(o => (o.Node, o.Loop)))
        {
            HistoryOperation? previous = null;
            foreach (var op in loop.OrderBy(o => o.Inv))
            {
                if (previous is not null && (previous.Ret is null || previous.Ret > op.Inv))
                {
                    report.HarnessErrors.Add($"{Describe(op, report.T0)} began before {Describe(previous, report.T0)} of the same loop returned");
                }

                previous = op;
            }
        }

        var tagsOfKey = history.Operations
            .Where(o => o.Key is not null)
            .GroupBy(o => o.Key!)
            .ToDictionary(g => g.Key, g => g.SelectMany(o => o.Tags).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        report.Operations = history.Operations.Count;
        report.Indeterminate = history.Operations.Count(o => o.Outcome == Outcome.Indeterminate);
        report.Failed = history.Operations.Count(o => o.Outcome == Outcome.Fail);
        report.FactoryRuns = history.Factories.Count;

        var invalidations = history.Operations.Where(o => o.IsInvalidation && o.Outcome == Outcome.Ok).ToList();
        foreach (var (key, tags) in tagsOfKey.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var ofKey = invalidations
                .Where(i => i.Op == "RemoveByTag" ? i.Tag == "*" || tags.Contains(i.Tag!) : i.Key == key)
                .OrderBy(i => i.Ret)
                .ToList();
            foreach (var read in history.Operations.Where(o => o.Key == key && o.IsRead && o.Outcome == Outcome.Ok && o.HasValue))
            {
                report.ReadsChecked++;
                CheckRead(read, ofKey, factories, sets, report);
            }
        }

        return report;
    }

    private void CheckRead(HistoryOperation read, List<HistoryOperation> invalidations, Dictionary<string, FactoryRun> factories, Dictionary<string, HistoryOperation> sets, HistoryReport report)
    {
        var t0 = report.T0;
        FactoryRun? run = null;
        HistoryOperation? set = null;
        if (read.Value is null || !(factories.TryGetValue(read.Value, out run) | sets.TryGetValue(read.Value, out set)))
        {
            report.Violations.Add(new Violation(read.Key!, "never produced", $"{read.Key}: {Describe(read, t0)} returned {read.Value ?? "null"}, which no factory run or Set produced", 0));
            return;
        }

        var producedFor = run?.Key ?? set!.Key;
        var originStart = run?.Start ?? set!.Inv;
        var origin = run is not null ? $"factory {run.Node} {Ms(run.Start, t0)}-{Ms(run.End, t0)}" : $"{set!.Node} SetAsync({set.Key}) {Span(set, t0)}{(set.Outcome == Outcome.Ok ? string.Empty : " " + set.Outcome.ToString().ToLowerInvariant())}";
        if (producedFor != read.Key)
        {
            report.Violations.Add(new Violation(read.Key!, "wrong key", $"{read.Key}: {Describe(read, t0)} returned {read.Value} ({origin}), produced for {producedFor}", 0));
            return;
        }

        if (originStart > read.Ret)
        {
            report.HarnessErrors.Add($"{read.Key}: {Describe(read, t0)} returned {read.Value} ({origin}) before it was produced");
            return;
        }

        HistoryOperation? worst = null;
        foreach (var invalidation in invalidations)
        {
            if (invalidation.Ret >= read.Inv)
            {
                break; // ordered by return: the rest returned after the read began
            }

            var superseded = run is not null
                ? run.Start < invalidation.Inv
                : set!.Outcome == Outcome.Ok && set.Ret < invalidation.Inv;
            if (!superseded || (invalidation.Op == "Expire" && (read.Stale || read.Op == "GetOrCreate")))
            {
                continue;
            }

            var gap = read.Inv - invalidation.Ret!.Value;
            if (invalidation.Node != read.Node && gap <= BoundMs)
            {
                report.CrossNodeStaleReads++;
                if (report.MaxCrossNodeStaleness is null || gap > report.MaxCrossNodeStaleness.GapMs)
                {
                    report.MaxCrossNodeStaleness = new Staleness(gap, Witness(read, origin, run is not null, invalidation, t0));
                }

                continue;
            }

            if (worst is null || invalidation.Ret < worst.Ret)
            {
                worst = invalidation;
            }
        }

        if (worst is not null)
        {
            var category = $"{read.Op} after {worst.Op} ({(worst.Node == read.Node ? "same node" : "other node")}, {(run is not null ? "factory value" : "Set value")})";
            report.Violations.Add(new Violation(read.Key!, "superseded value", Witness(read, origin, run is not null, worst, t0), read.Inv - worst.Ret!.Value, category));
        }
    }

    private string Witness(HistoryOperation read, string origin, bool fromFactory, HistoryOperation invalidation, double t0)
    {
        var gap = read.Inv - invalidation.Ret!.Value;
        var where = invalidation.Node == read.Node
            ? "on the same node"
            : $"on another node, {gap.ToString("F0", CultureInfo.InvariantCulture)} ms before the read (bound {BoundMs.ToString("F0", CultureInfo.InvariantCulture)} ms)";
        var why = fromFactory ? "was invoked after the factory began" : "was invoked after the Set returned";
        var stale = read.Op == "TryGet" ? (read.Stale ? " (flagged stale)" : " (not flagged stale)") : string.Empty;
        return $"{read.Key}: {Describe(read, t0)} returned {read.Value}{stale} ({origin}), but {invalidation.Node} {Name(invalidation)} {Span(invalidation, t0)} returned {where} and {why}";
    }

    private static string Describe(HistoryOperation op, double t0) => $"{op.Node} {op.Op} {Span(op, t0)}";

    private static string Name(HistoryOperation op) => $"{op.Op}Async({op.Target})";

    private static string Span(HistoryOperation op, double t0) => $"[{Ms(op.Inv, t0)}-{(op.Ret is { } ret ? Ms(ret, t0) : "?")}]";

    private static string Ms(double time, double t0) => (time - t0).ToString("F0", CultureInfo.InvariantCulture);

    private static double Origin(History history) =>
        history.Operations.Count == 0 ? 0 : Math.Min(history.Operations.Min(o => o.Inv), history.Factories.Count == 0 ? double.MaxValue : history.Factories.Min(f => f.Start));
}

/// <param name="GapMs">How long after the invalidation returned the read was invoked.</param>
/// <param name="Category">For superseded values: which read, after which invalidation, on which node, of which kind of value.</param>
public sealed record Violation(string Key, string Kind, string Witness, double GapMs, string? Category = null);

/// <summary>A read on another node that returned a superseded value within the bound: how late it was, and the witness.</summary>
public sealed record Staleness(double GapMs, string Witness);

public sealed class HistoryReport(double boundMs, double t0)
{
    public double BoundMs { get; } = boundMs;

    /// <summary>Times in witnesses are milliseconds since this instant (the history's first invocation).</summary>
    public double T0 { get; } = t0;

    public List<Violation> Violations { get; } = [];

    public List<string> HarnessErrors { get; } = [];

    public int Operations { get; set; }

    public int Failed { get; set; }

    public int Indeterminate { get; set; }

    public int FactoryRuns { get; set; }

    public int ReadsChecked { get; set; }

    /// <summary>Reads that returned a superseded value on another node, within the bound (allowed).</summary>
    public int CrossNodeStaleReads { get; set; }

    /// <summary>The largest (read invoked - invalidation returned) among the allowed cross-node stale reads.</summary>
    public Staleness? MaxCrossNodeStaleness { get; set; }

    public bool IsValid => Violations.Count == 0 && HarnessErrors.Count == 0;

    public string Summary =>
        $"{Operations} operations ({Failed} failed, {Indeterminate} indeterminate), {FactoryRuns} factory runs, {ReadsChecked} reads with a value checked; " +
        $"{Violations.Count} violations, {HarnessErrors.Count} harness errors; {CrossNodeStaleReads} cross-node stale reads within the {BoundMs:F0} ms bound" +
        (MaxCrossNodeStaleness is { } max ? $", the latest {max.GapMs:F0} ms after the invalidation returned" : string.Empty) +
        (Violations.Count > 0 ? $"; violations by kind: {string.Join(", ", Violations.GroupBy(v => v.Kind).Select(g => $"{g.Key} {g.Count()}"))}" +
            $"; largest gap {Violations.Max(v => v.GapMs):F0} ms; by category: " +
            string.Join(", ", Violations.Where(v => v.Category is not null).GroupBy(v => v.Category).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}")) : string.Empty);

    public string Describe(int maxWitnesses = 40)
    {
        var text = new StringBuilder(Summary).AppendLine();
        foreach (var error in HarnessErrors.Take(maxWitnesses))
        {
            text.Append("HARNESS: ").AppendLine(error);
        }

        foreach (var violation in Violations.Take(maxWitnesses))
        {
            text.AppendLine(violation.Witness);
        }

        if (Violations.Count > maxWitnesses)
        {
            text.Append("... and ").Append(Violations.Count - maxWitnesses).AppendLine(" more");
        }

        if (MaxCrossNodeStaleness is { } max)
        {
            text.Append("Latest allowed cross-node stale read: ").AppendLine(max.Witness);
        }

        return text.ToString();
    }
}
