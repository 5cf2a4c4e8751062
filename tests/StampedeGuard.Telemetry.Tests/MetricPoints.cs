using OpenTelemetry.Metrics;

namespace StampedeGuard.Telemetry.Tests;

/// <summary>Reads exported metric points the way a backend would see them.</summary>
public static class MetricPoints
{
    /// <summary>Each point's tags as "key=value" (sorted, comma-joined; empty for no tags) with its long sum.</summary>
    public static Dictionary<string, long> SumsByTags(this MetricSnapshot metric) =>
        metric.MetricPoints.ToDictionary(p => TagsOf(p), p => p.GetSumLong());

    /// <summary>The one point of an untagged histogram: its count and its (upper bound, count) buckets.</summary>
    public static (long Count, List<(double Bound, long Count)> Buckets) Histogram(this MetricSnapshot metric)
    {
        metric.MetricPoints.Should().ContainSingle();
        var point = metric.MetricPoints[0];
        var buckets = new List<(double, long)>();
        foreach (var bucket in point.GetHistogramBuckets())
        {
            buckets.Add((bucket.ExplicitBound, bucket.BucketCount));
        }

        return (point.GetHistogramCount(), buckets);
    }

    private static string TagsOf(MetricPoint point)
    {
        var tags = new List<string>();
        foreach (var tag in point.Tags)
        {
            tags.Add($"{tag.Key}={tag.Value}");
        }

        tags.Sort(StringComparer.Ordinal);
        return string.Join(",", tags);
    }
}
