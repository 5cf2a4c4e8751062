using System.Globalization;
using BenchmarkDotNet.Running;
using StampedeGuard.Benchmarks;

// dotnet run -c Release --project benchmarks/StampedeGuard.Benchmarks -- --filter '*'
//   BenchmarkDotNet, in process (no generated project to build), with the short job of BenchmarkConfig.
// dotnet run -c Release --project benchmarks/StampedeGuard.Benchmarks -- --paired [rounds]
//   The hit-path ratios, measured in interleaved batches so a noisy machine cannot skew them.
if (args.Length > 0 && args[0] == "--paired")
{
    PairedHitRunner.Run(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 400);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, new BenchmarkConfig());
