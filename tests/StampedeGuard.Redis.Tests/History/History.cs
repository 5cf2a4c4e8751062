using System.Text.Json;

namespace StampedeGuard.Redis.Tests.History;

/// <summary>What became of an operation: it returned, it threw, or its process died before either (outcome unknown).</summary>
public enum Outcome
{
    Ok,
    Fail,
    Indeterminate,
}

/// <summary>
/// One operation of a history. <see cref="Key"/> for everything but RemoveByTag (<see cref="Tag"/>); <see cref="Value"/> is
/// the value a Set wrote or the value a read returned (null on a miss). Times are milliseconds on one monotonic clock
/// shared by every process; <see cref="Ret"/> is null when the outcome is <see cref="Outcome.Indeterminate"/>.
/// </summary>
public sealed record HistoryOperation(
    string Node,
    long Id,
    int Loop,
    string Op,
    string? Key,
    string? Tag,
    IReadOnlyList<string> Tags,
    string? Value,
    bool HasValue,
    bool Stale,
    Outcome Outcome,
    string? Error,
    double Inv,
    double? Ret)
{
    public bool IsRead => Op is "GetOrCreate" or "TryGet";

    public bool IsInvalidation => Op is "Set" or "Remove" or "Expire" or "RemoveByTag";

    public string Target => Op == "RemoveByTag" ? Tag ?? "?" : Key ?? "?";
}

/// <summary>A factory run that returned <see cref="Value"/>: it began at <see cref="Start"/> and returned at <see cref="End"/>.</summary>
public sealed record FactoryRun(string Node, string Key, string Value, double Start, double End);

/// <summary>Every node's operations and factory runs, merged; see the history worker for the file format.</summary>
public sealed class History
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public History(IEnumerable<HistoryOperation> operations, IEnumerable<FactoryRun> factories, IEnumerable<string>? loadErrors = null)
    {
        Operations = [.. operations];
        Factories = [.. factories];
        LoadErrors = [.. loadErrors ?? []];
    }

    public IReadOnlyList<HistoryOperation> Operations { get; }

    public IReadOnlyList<FactoryRun> Factories { get; }

    /// <summary>Lines that could not be read (other than a last line cut short by a killed process).</summary>
    public IReadOnlyList<string> LoadErrors { get; }

    public static History Load(IEnumerable<string> files)
    {
        var operations = new List<HistoryOperation>();
        var factories = new List<FactoryRun>();
        var errors = new List<string>();
        foreach (var file in files)
        {
            Parse(file, File.ReadAllLines(file), operations, factories, errors);
        }

        return new History(operations, factories, errors);
    }

    /// <summary>Parses one node's lines: an "invoke" without its "op" line becomes an indeterminate operation.</summary>
    public static void Parse(string source, IReadOnlyList<string> lines, List<HistoryOperation> operations, List<FactoryRun> factories, List<string> errors)
    {
        var invoked = new Dictionary<(string Node, long Id), HistoryLine>();
        var completed = new HashSet<(string Node, long Id)>();
        for (var i = 0; i < lines.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
            {
                continue;
            }

            HistoryLine? line;
            try
            {
                line = JsonSerializer.Deserialize<HistoryLine>(lines[i], Json);
            }
            catch (JsonException ex)
            {
                // The last line of a killed process may be cut short; anything else is the harness's bug.
                if (i != lines.Count - 1)
                {
                    errors.Add($"{source}:{i + 1}: {ex.Message}");
                }

                continue;
            }

            switch (line?.Type)
            {
                case "invoke":
                    invoked[(line.Node!, line.Id!.Value)] = line;
                    break;
                case "op":
                    completed.Add((line.Node!, line.Id!.Value));
                    operations.Add(ToOperation(line, line.Outcome == "ok" ? Outcome.Ok : Outcome.Fail, line.Ret));
                    break;
                case "factory":
                    factories.Add(new FactoryRun(line.Node!, line.Key!, line.Value!, line.Start!.Value, line.End!.Value));
                    break;
                default:
                    errors.Add($"{source}:{i + 1}: unknown line type '{line?.Type}'");
                    break;
            }
        }

        foreach (var (id, line) in invoked)
        {
            if (!completed.Contains(id))
            {
                operations.Add(ToOperation(line, Outcome.Indeterminate, null));
            }
        }
    }

    private static HistoryOperation ToOperation(HistoryLine line, Outcome outcome, double? ret) => new(
        line.Node!,
        line.Id!.Value,
        line.Loop ?? 0,
        line.Op!,
        line.Key,
        line.Tag,
        line.Tags ?? [],
        line.Value,
        line.HasValue ?? false,
        line.Stale ?? false,
        outcome,
        line.Error,
        line.Inv!.Value,
        ret);
}
