using System.Diagnostics;
using StampedeGuard.Redis.Tests.Infrastructure;

namespace StampedeGuard.Redis.Tests;

/// <summary>Several worker OS processes hammering one key through one Redis; the factory counts its runs in Redis.</summary>
[Collection("redis")]
public sealed class MultiProcessTests(RedisFixture redis) : IAsyncLifetime
{
    private const int Processes = 3;
    private const int WorkersPerProcess = 4;
    private readonly string _prefix = RedisFixture.NewPrefix();
    private readonly List<WorkerProcess> _workers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }
    }

    private async Task<WorkerProcess[]> StartWorkersAsync(int count, params string[] extra)
    {
        var started = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => WorkerProcess.StartAsync(
            ["--redis", redis.Server.Configuration, "--prefix", _prefix, "--workers", WorkersPerProcess.ToString(), "--processes", count.ToString(), .. extra])));
        _workers.AddRange(started);
        return started;
    }

    private async Task<long> CounterAsync(string key) => long.Parse("0" + (await redis.Server.CliAsync("get", key)).Trim());

    [Fact]
    public async Task Round_ThreeProcessesThreeExpiries_ExactlyOneFactoryRunPerExpiry()
    {
        // Values stay fresh for 3 s: on a loaded 2-core machine a process can lag the others by a second, and a
        // caller arriving after the value expired would be a legitimate second run.
        var workers = await StartWorkersAsync(Processes, "--duration-ms", "3000", "--factory-ms", "300", "--lease-ms", "5000");

        // Warm-up on another key so the first real round does not include each process's JIT time.
        await Task.WhenAll(workers.Select(w => w.SendAsync($"round warmup {_prefix}runs:warmup")));
        await Task.WhenAll(workers.Select(w => w.ExpectAsync("done", TimeSpan.FromSeconds(60))));
        for (var round = 1; round <= 3; round++)
        {
            var counter = $"{_prefix}runs:{round}";
            await Task.WhenAll(workers.Select(w => w.SendAsync($"round hot {counter}")));
            var replies = await Task.WhenAll(workers.Select(w => w.ExpectAsync("done", TimeSpan.FromSeconds(60))));

            replies.Should().AllSatisfy(r => r.Should().Contain($"ok={WorkersPerProcess} errors=0"));
            (await CounterAsync(counter)).Should().Be(1, $"round {round}: one factory run across {Processes} processes x {WorkersPerProcess} callers (workers said: {string.Join(" | ", replies)}; stderr: {string.Join(" | ", workers.Select(w => w.Errors))})");

            // Let the value expire everywhere (its freshUntil is stored next to it) before the next round.
            var freshUntil = long.Parse((await redis.Server.CliAsync("hget", _prefix + "{hot}:v", "f")).Trim());
            var wait = DateTimeOffset.FromUnixTimeMilliseconds(freshUntil) - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(50);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
        }
    }

    [Fact]
    public async Task Round_BarrierOff_OneFactoryRunPerProcess()
    {
        var workers = await StartWorkersAsync(Processes, "--barrier", "off");
        var counter = $"{_prefix}runs:off";

        await Task.WhenAll(workers.Select(w => w.SendAsync($"round hot {counter}")));
        var replies = await Task.WhenAll(workers.Select(w => w.ExpectAsync("done", TimeSpan.FromSeconds(60))));

        replies.Should().AllSatisfy(r => r.Should().Contain("errors=0"));
        (await CounterAsync(counter)).Should().Be(Processes, "each process single-flights locally, none across processes");
    }

    [Fact]
    public async Task HolderKilledMidFactory_AnotherProcessProducesTheValueWithinTheLease()
    {
        var lease = TimeSpan.FromSeconds(2);
        var holder = (await StartWorkersAsync(1, "--lease-ms", "2000"))[0];
        var counter = $"{_prefix}runs:kill";
        await holder.SendAsync($"hold hot {counter}");
        await holder.ExpectAsync("infactory", TimeSpan.FromSeconds(30));

        await holder.KillAsync(); // SIGKILL: no release, no goodbye
        var stopwatch = Stopwatch.StartNew();
        var survivors = await StartWorkersAsync(2, "--lease-ms", "2000", "--factory-ms", "100");
        var startup = stopwatch.Elapsed;
        await Task.WhenAll(survivors.Select(w => w.SendAsync($"round hot {counter}")));
        var replies = await Task.WhenAll(survivors.Select(w => w.ExpectAsync("done", TimeSpan.FromSeconds(30))));

        replies.Should().AllSatisfy(r => r.Should().Contain("errors=0"));
        (await CounterAsync(counter)).Should().Be(2, "the killed holder's run and exactly one run after its lease expired");
        (stopwatch.Elapsed - startup).Should().BeLessThan(lease + TimeSpan.FromSeconds(3), "waiters wait at most the rest of the dead holder's lease plus a round trip");
    }

    [Fact]
    public async Task LeaderPausedPastItsLease_ItsLateWriteIsRefusedAndTheNewerValueSurvives()
    {
        var holder = (await StartWorkersAsync(1, "--lease-ms", "1500"))[0];
        var counter = $"{_prefix}runs:pause";
        await holder.SendAsync($"hold hot {counter}");
        await holder.ExpectAsync("infactory", TimeSpan.FromSeconds(30));

        holder.Signal(19); // SIGSTOP: the leader (and its watchdog) freezes, as in a long GC pause
        var other = (await StartWorkersAsync(1, "--lease-ms", "1500", "--factory-ms", "50"))[0];
        await other.SendAsync($"round hot {counter}");
        var reply = await other.ExpectAsync("done", TimeSpan.FromSeconds(30));
        holder.Signal(18); // SIGCONT
        await holder.SendAsync("finish");
        var late = await holder.ExpectAsync("held-done", TimeSpan.FromSeconds(30));

        reply.Should().Contain("errors=0");
        late.Should().Contain("leaselost=True");
        (await CounterAsync(counter)).Should().Be(2);
        var stored = await redis.Server.CliAsync("hget", _prefix + "{hot}:v", "v");
        stored.Should().Contain($"{other.Id}:2").And.NotContain("late:");
    }
}
