using System.Diagnostics;
using System.Globalization;
using StampedeGuard.TestSupport.Redis;
using Xunit.Abstractions;

namespace StampedeGuard.Redis.Tests.History;

/// <summary>
/// Runs after every parallel collection, alone: three CPU-busy worker processes plus redis-server fill both cores, and
/// a history run must not slow the timing-sensitive classes (nor they it).
/// </summary>
[CollectionDefinition("redis-history", DisableParallelization = true)]
public sealed class RedisHistoryCollection;

/// <summary>
/// Jepsen-style: three worker processes (4 loops each, keys k0..k7) run a random workload through one real
/// redis-server while faults are injected on a schedule; every operation is recorded with invoke and return times on
/// the machine's monotonic clock, and <see cref="HistoryChecker"/> checks the merged history against the invalidation
/// model. Each scenario runs <c>STAMPEDEGUARD_HISTORY_SECONDS</c> seconds (default 8). The history files are kept
/// (their folder is printed) when the check fails.
/// </summary>
[Collection("redis-history")]
public sealed class HistoryTests(ITestOutputHelper output)
{
    /// <summary>
    /// The delivery bound for other nodes' in-memory copies when nothing fails (ms): docs/redis.md states 500 ms (a
    /// message's delivery, measured at 1-5 ms; the rest is slack for a loaded 2-core machine).
    /// </summary>
    public const double FaultFreeBoundMs = 500;

    /// <summary>
    /// The bound under the fault scenarios (ms): three heartbeat intervals (the workers run the default 500 ms), the
    /// bound docs/redis.md states for lost messages, a broken subscription, a paused node and a Redis restart.
    /// </summary>
    public const double FaultBoundMs = 1500;

    private const int Nodes = 3;
    private const int Loops = 4;
    private const int Keys = 8;
    private static readonly TimeSpan FirstFault = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan BetweenFaults = TimeSpan.FromSeconds(2);

    public enum Fault
    {
        None,
        KillPubSubClients,
        KillNormalClients,
        PauseClients,
        StopWorker,
        RestartRedis,
        ReplaceWorker,
        SkewedClock,
    }

    private static double Seconds => double.TryParse(Environment.GetEnvironmentVariable("STAMPEDEGUARD_HISTORY_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 8;

    [Fact]
    public Task History_FaultFree_NoViolations() => RunAsync(Fault.None, FaultFreeBoundMs);

    [Fact]
    public Task History_PubSubClientsKilled_NoViolations() => RunAsync(Fault.KillPubSubClients, FaultBoundMs);

    [Fact]
    public Task History_NormalClientsKilled_NoViolations() => RunAsync(Fault.KillNormalClients, FaultBoundMs);

    [RedisFact(SkipOnGarnet = GarnetGaps.ClientPause)]
    public Task History_ClientsPaused_NoViolations() => RunAsync(Fault.PauseClients, FaultBoundMs);

    [Fact]
    public Task History_WorkerStoppedAndContinued_NoViolations() => RunAsync(Fault.StopWorker, FaultBoundMs);

    [Fact]
    public Task History_RedisKilledAndRestartedEmpty_NoViolations() => RunAsync(Fault.RestartRedis, FaultBoundMs);

    [Fact]
    public Task History_WorkerKilledAndReplaced_NoViolations() => RunAsync(Fault.ReplaceWorker, FaultBoundMs);

    [Fact]
    public Task History_WorkerClockTwoSecondsAhead_NoViolations() => RunAsync(Fault.SkewedClock, FaultBoundMs);

    private static double Now() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    private async Task RunAsync(Fault fault, double boundMs)
    {
        var seconds = Seconds;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("STAMPEDEGUARD_HISTORY_SEED"), out var s) ? s : Random.Shared.Next();
        var directory = Path.Combine(Path.GetTempPath(), $"sg-history-{fault}-{Guid.NewGuid().ToString("N")[..6]}");
        Directory.CreateDirectory(directory);
        var faults = new List<(double At, string What)>();
        var nodes = new List<HistoryWorkerProcess>();
        var nextNode = 0;
        await using var server = await RedisServer.StartAsync();
        try
        {
            async Task<HistoryWorkerProcess> StartNodeAsync(int clockOffsetMs = 0)
            {
                var name = "n" + Interlocked.Increment(ref nextNode).ToString(CultureInfo.InvariantCulture);
                return await HistoryWorkerProcess.StartAsync(name, Path.Combine(directory, name + ".jsonl"),
                    "--redis", server.Configuration, "--prefix", "h:", "--clock-offset-ms", clockOffsetMs.ToString(CultureInfo.InvariantCulture));
            }

            var started = await Task.WhenAll(Enumerable.Range(0, Nodes).Select(i => StartNodeAsync(fault == Fault.SkewedClock && i == Nodes - 1 ? 2000 : 0)));
            nodes.AddRange(started);
            var deadline = Now() + (seconds * 1000);
            await Task.WhenAll(nodes.Select(n => n.SendAsync(HistoryCommand(n, seconds, seed))));
            await Task.WhenAll(nodes.Select(n => n.ExpectAsync("started", TimeSpan.FromSeconds(30))));

            await InjectAsync(fault, server, nodes, deadline, seed, faults, () => StartNodeAsync());

            var live = nodes.Where(n => !n.Killed).ToList();
            var done = await Task.WhenAll(live.Select(n => n.ExpectAsync("done", TimeSpan.FromSeconds(seconds + 60))));
            await Task.WhenAll(live.Select(n => n.QuitAsync(TimeSpan.FromSeconds(10))));

            var history = History.Load(nodes.Select(n => n.File));
            var report = new HistoryChecker(boundMs).Check(history);
            output.WriteLine($"{fault}: {seconds} s, seed {seed}, bound {boundMs} ms, nodes {string.Join(", ", nodes.Select(n => n.Node + (n.Killed ? " (killed)" : string.Empty)))}; {string.Join(" | ", done)}");
            output.WriteLine($"Faults: {(faults.Count == 0 ? "none" : string.Join("; ", faults.Select(f => $"{f.At - report.T0:F0} {f.What}")))}");
            output.WriteLine(report.Describe(maxWitnesses: 60));
            if (!report.IsValid)
            {
                output.WriteLine($"History files kept in {directory}");
                foreach (var node in nodes)
                {
                    output.WriteLine($"--- {node.Node} stderr (last lines) ---\n{node.LastErrors(15)}");
                }
            }

            report.HarnessErrors.Should().BeEmpty("the harness must be sound: {0}", report.Describe());
            report.Violations.Should().BeEmpty("{0} (seed {1}, files in {2})", report.Describe(), seed, directory);
            Directory.Delete(directory, recursive: true);
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    private static string HistoryCommand(HistoryWorkerProcess node, double seconds, int seed) =>
        string.Create(CultureInfo.InvariantCulture, $"history {seconds:F3} {Loops} {Keys} {seed} {node.File}");

    /// <summary>The fault schedule: the first fault after <see cref="FirstFault"/>, then one every <see cref="BetweenFaults"/> after the last ended, until 2 s before the end.</summary>
    private static async Task InjectAsync(Fault fault, RedisServer server, List<HistoryWorkerProcess> nodes, double deadline, int seed, List<(double At, string What)> faults, Func<Task<HistoryWorkerProcess>> startNode)
    {
        if (fault is Fault.None or Fault.SkewedClock)
        {
            return;
        }

        var random = new Random(seed);
        await Task.Delay(FirstFault);
        var round = 0;
        while (deadline - Now() > 2000)
        {
            var target = nodes.Where(n => !n.Killed).ElementAt(round++ % nodes.Count(n => !n.Killed));
            switch (fault)
            {
                case Fault.KillPubSubClients:
                    faults.Add((Now(), "CLIENT KILL TYPE pubsub"));
                    await server.CliAsync("client", "kill", "type", "pubsub");
                    break;
                case Fault.KillNormalClients:
                    faults.Add((Now(), "CLIENT KILL TYPE normal"));
                    await server.CliAsync("client", "kill", "type", "normal");
                    break;
                case Fault.PauseClients:
                    faults.Add((Now(), "CLIENT PAUSE 500 ALL"));
                    await server.CliAsync("client", "pause", "500", "all");
                    await Task.Delay(500);
                    break;
                case Fault.StopWorker:
                    faults.Add((Now(), $"SIGSTOP {target.Node}"));
                    target.Stop();
                    await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1500, 2500)));
                    target.Continue();
                    faults.Add((Now(), $"SIGCONT {target.Node}"));
                    break;
                case Fault.RestartRedis:
                    faults.Add((Now(), "redis-server killed"));
                    await server.KillAsync();
                    await Task.Delay(TimeSpan.FromMilliseconds(random.Next(100, 1000)));
                    await server.StartAsync();
                    faults.Add((Now(), "redis-server restarted (empty)"));
                    break;
                case Fault.ReplaceWorker:
                    faults.Add((Now(), $"SIGKILL {target.Node}"));
                    await target.KillAsync();
                    var replacement = await startNode();
                    var left = (deadline - Now()) / 1000;
                    if (left < 1)
                    {
                        await replacement.QuitAsync(TimeSpan.FromSeconds(10));
                        break;
                    }

                    nodes.Add(replacement);
                    await replacement.SendAsync(HistoryCommand(replacement, left, seed));
                    await replacement.ExpectAsync("started", TimeSpan.FromSeconds(30));
                    faults.Add((Now(), $"{replacement.Node} started"));
                    break;
            }

            await Task.Delay(BetweenFaults);
        }
    }
}
