namespace StampedeGuard.Redis.Tests.History;

/// <summary>
/// One line of a history file: written by the history worker, read by the checker (tests/StampedeGuard.Redis.Tests
/// links this file), so both agree on one shape.
/// </summary>
internal sealed class HistoryLine
{
    public string? Type { get; set; }

    public string? Node { get; set; }

    public long? Id { get; set; }

    public int? Loop { get; set; }

    public string? Op { get; set; }

    public string? Key { get; set; }

    public string? Tag { get; set; }

    public string[]? Tags { get; set; }

    public string? Value { get; set; }

    public bool? HasValue { get; set; }

    public bool? Stale { get; set; }

    public string? Outcome { get; set; }

    public string? Error { get; set; }

    public double? Inv { get; set; }

    public double? Ret { get; set; }

    public double? FactoryStart { get; set; }

    public double? Start { get; set; }

    public double? End { get; set; }
}
