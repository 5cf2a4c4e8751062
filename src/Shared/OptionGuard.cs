namespace StampedeGuard.Shared;

/// <summary>
/// The validation rules every options class of the StampedeGuard packages shares, and the one place that knows a
/// timer cannot take more than about 49.7 days. Compiled into each library (linked source), so it stays internal.
/// </summary>
internal static class OptionGuard
{
    /// <summary>The longest timeout a timer can take (<c>uint.MaxValue - 1</c> ms, about 49.7 days).</summary>
    public static readonly TimeSpan MaxTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    public static TimeSpan NonNegative(string name, TimeSpan value) =>
        value >= TimeSpan.Zero ? value : throw OutOfRange(name, value, "must not be negative");

    public static TimeSpan Positive(string name, TimeSpan value) =>
        value > TimeSpan.Zero ? value : throw OutOfRange(name, value, "must be positive");

    public static TimeSpan PositiveOrInfinite(string name, TimeSpan value) =>
        value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan ? value : throw OutOfRange(name, value, "must be positive or Timeout.InfiniteTimeSpan");

    public static ArgumentOutOfRangeException OutOfRange(string name, object? value, string rule) =>
        new(name, value, $"{name} {rule}.");

    /// <summary>A timeout a timer can take: one longer than <see cref="MaxTimer"/> means no timeout.</summary>
    public static TimeSpan TimerBound(TimeSpan timeout) => timeout > MaxTimer ? Timeout.InfiniteTimeSpan : timeout;
}
