using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// A short in-process job: a few minutes for the whole suite on a shared 2-core machine, no generated project to
/// build next to other people's builds. Compare ratios against the baseline of the same run, not absolute times.
/// <c>quick</c>: 1 warm-up and 3 iterations, for a look in a few minutes (wider error bars).
/// </summary>
public sealed class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig(bool quick = false)
    {
        AddJob(Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(quick ? 1 : 3)
            .WithIterationCount(quick ? 3 : 8)
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithId(quick ? "Quick" : "Short"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median);
        AddColumnProvider(DefaultConfig.Instance.GetColumnProviders().ToArray());
        AddLogger(DefaultConfig.Instance.GetLoggers().ToArray());
        AddExporter(DefaultConfig.Instance.GetExporters().ToArray());
    }
}
