using System.Diagnostics.Metrics;

namespace StampedeGuard.Shared;

/// <summary>
/// The histogram bucket advice every StampedeGuard duration instrument (unit <c>s</c>) carries, so an OpenTelemetry
/// exporter's defaults (made for milliseconds: 0, 5, 10, ... 10000) do not put every cache latency into the first
/// bucket. Compiled into each library (linked source), so it stays internal and each package's meter advises the same.
/// </summary>
internal static class DurationBuckets
{
    /// <summary>
    /// The explicit bucket upper bounds in seconds: 10 us to 10 s in 1-2.5-5 steps (L1 hits and collapsed waits at the
    /// low end, L2 round trips in the middle, slow factories and origins up to the usual timeouts at the top).
    /// </summary>
    public static readonly IReadOnlyList<double> Seconds =
    [
        0.00001, 0.000025, 0.00005,
        0.0001, 0.00025, 0.0005,
        0.001, 0.0025, 0.005,
        0.01, 0.025, 0.05,
        0.1, 0.25, 0.5,
        1, 2.5, 5,
        10,
    ];

    /// <summary>The advice to pass to <see cref="Meter.CreateHistogram{T}(string, string?, string?, IEnumerable{KeyValuePair{string, object?}}?, InstrumentAdvice{T}?)"/>.</summary>
    public static readonly InstrumentAdvice<double> Advice = new() { HistogramBucketBoundaries = Seconds };

    /// <summary>Creates a duration histogram in seconds with <see cref="Advice"/>.</summary>
    /// <param name="meter">The meter.</param>
    /// <param name="name">The instrument name.</param>
    /// <param name="description">The instrument description.</param>
    /// <returns>The histogram.</returns>
    public static Histogram<double> CreateHistogram(Meter meter, string name, string description) =>
        meter.CreateHistogram(name, "s", description, tags: null, advice: Advice);
}
