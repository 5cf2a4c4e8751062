using System.Diagnostics;
using System.Globalization;

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>
/// The peers mode's L2 hit row alone, with the rounds it lacks: each library as set up in <c>--peers</c> (DI, a
/// process of its own), a writer process and a reader process per library kept for the whole run, the readers' 500-call
/// p50s taken round after round with the libraries' order rotated every round. <c>--peers</c> gets one such p50 per
/// library per round from freshly started processes; this tells whether a difference there is the library's or the
/// round's. With <c>--cold</c> each reader first runs the peers mode's cold-key step (100 callers, 200 ms factory).
/// </summary>
internal static class L2HitProcesses
{
    public static async Task RunAsync(string configuration, int rounds, int calls, bool cold, PeerLibrary[] Libraries)
    {
        var writers = Libraries.Select(l => PeerProcess.Start(l, configuration)).ToArray();
        var readers = Libraries.Select(l => PeerProcess.Start(l, configuration)).ToArray();
        try
        {
            await Task.WhenAll(writers.Concat(readers).Select(p => p.SendAsync("ready")));
            if (cold)
            {
                var start = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 2);
                await Task.WhenAll(readers.Select((r, i) => r.SendAsync($"cold cold{i} 100 {start} 200")));
            }

            for (var i = 0; i < Libraries.Length; i++)
            {
                await writers[i].SendAsync($"set l2{i} l2 3600000");
            }

            var p50s = Libraries.Select(_ => new List<double>()).ToArray();
            for (var round = 0; round < rounds; round++)
            {
                for (var j = 0; j < Libraries.Length; j++)
                {
                    var i = (j + round) % Libraries.Length;
                    var answer = await readers[i].SendAsync($"l2hit l2{i} {calls}");
                    if (answer[1] != "0")
                    {
                        throw new InvalidOperationException($"{Libraries[i]}: a factory ran during the L2 hits.");
                    }

                    p50s[i].Add(double.Parse(answer[0], CultureInfo.InvariantCulture));
                }
            }

            Console.WriteLine($"## L2 hit, one reader process per library as --peers sets it up, {rounds} rounds x {calls} calls (order rotated){(cold ? ", after a cold-key step" : string.Empty)}");
            Console.WriteLine();
            Console.WriteLine("| Library | median of round p50s µs | min | max | median ratio to StampedeGuard (per round) |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            for (var i = 0; i < Libraries.Length; i++)
            {
                var ratios = p50s[i].Select((p, r) => p / p50s[0][r]).ToList();
                Console.WriteLine($"| {Libraries[i]} | {Median(p50s[i]):F0} | {p50s[i].Min():F0} | {p50s[i].Max():F0} | {Median(ratios):F2}x |");
            }

            Console.WriteLine();
            Console.WriteLine("Round p50s µs: " + string.Join("; ", Libraries.Select((l, i) => $"{l} {string.Join(" ", p50s[i].Select(p => p.ToString("F0", CultureInfo.InvariantCulture)))}")));
        }
        finally
        {
            await Task.WhenAll(writers.Concat(readers).Select(p => p.DisposeAsync().AsTask()));
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
