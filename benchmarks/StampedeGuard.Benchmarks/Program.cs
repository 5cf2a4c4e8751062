using System.Globalization;
using BenchmarkDotNet.Running;
using StampedeGuard.Benchmarks;

// dotnet run -c Release --project benchmarks/StampedeGuard.Benchmarks -- --filter '*'
//   BenchmarkDotNet, in process (no generated project to build), with the short job of BenchmarkConfig.
//   Add --quick for an even shorter job (1 warm-up, 3 iterations): the peer classes (--filter '*Peer*') in a few minutes.
// dotnet run -c Release --project benchmarks/StampedeGuard.Benchmarks -- --paired [rounds]
//   The hit-path ratios (StampedeGuard, HybridCache, FusionCache, IMemoryCache), in interleaved batches so a noisy
//   machine cannot skew them.
// dotnet run -c Release --project benchmarks/StampedeGuard.Benchmarks -- --peers [--quick]
//   The four libraries side by side outside BenchmarkDotNet, interleaved: fresh hit on 1 and N threads, cold key with
//   1,000 and 10,000 callers (release to last caller, bytes per waiter), 1,000,000 misses (sync and async factory),
//   bytes per entry. 9.5-12.5 minutes on 2 heavily loaded cores; --quick about 1.
// dotnet run -c Release --project benchmarks/StampedeGuard.Benchmarks -- --cold [callers] [rounds]
//   Only the cold-key part of --peers (default 1,000 callers, 200 flights per library).
// dotnet run -c Release --project benchmarks/StampedeGuard.Benchmarks -- --misses [keys] [rounds]
//   Only the misses and bytes-per-entry part of --peers (default 1,000,000 keys, 3 rounds).
// dotnet run -c Release --project benchmarks/StampedeGuard.Benchmarks -- --alloc [keys]
//   Bytes per miss by type for each library (the runtime's allocation sampling through an EventListener).
// Add --listen to any runner: a MeterListener enables every instrument of every meter (as an OpenTelemetry SDK with
//   AddMeter("*") would) and drops the measurements, so each library pays for the metrics it records; or --otel: the
//   OpenTelemetry SDK itself over every meter (aggregation included).
var quick = args.Contains("--quick");
using var listener = args.Contains("--listen") ? MeterListening.EnableAll() : args.Contains("--otel") ? MeterListening.OpenTelemetryAll() : null;
args = [.. args.Where(a => a is not "--quick" and not "--listen" and not "--otel")];
int Arg(int index, int fallback) => args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;

switch (args.FirstOrDefault())
{
    case "--paired":
        PairedHitRunner.Run(Arg(1, quick ? 200 : 400));
        return;
    case "--peers":
        PairedHitRunner.Run(quick ? 200 : 1000, includeEarlyRefresh: false);
        ColdKeyRunner.Run(1_000, quick ? 30 : 200);
        ColdKeyRunner.Run(10_000, quick ? 10 : 40);
        MissRunner.Run(quick ? 200_000 : 1_000_000, quick ? 1 : 3);
        return;
    case "--cold":
        ColdKeyRunner.Run(Arg(1, 1_000), Arg(2, 200));
        return;
    case "--misses":
        MissRunner.Run(Arg(1, 1_000_000), Arg(2, 3));
        return;
    case "--alloc":
        AllocationSampler.Run(Arg(1, 200_000));
        return;
    default:
        BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, new BenchmarkConfig(quick));
        return;
}
