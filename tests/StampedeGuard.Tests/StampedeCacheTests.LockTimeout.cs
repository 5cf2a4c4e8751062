using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private const int Waiters = 50;

    /// <summary>Passes LockTimeout: the waiters take over with a second run, which the helper completes with "second".</summary>
    private static async Task TakeOverHungLeaderAsync(CacheHarness h, GatedFactory<string> second, List<Task<string>> waiting)
    {
        h.Clock.Advance(TimeSpan.FromSeconds(3));
        await Poll.UntilAsync(() => second.Calls >= 1, "a new run started");
        second.Release("second");
        await Poll.Within(Task.WhenAll(waiting), "the waiters");
    }

    /// <summary>A leader whose factory hangs, and <see cref="Waiters"/> callers collapsed behind it.</summary>
    private static async Task<(Task<string> Leader, List<Task<string>> Waiting, TaskCompletionSource<string> Hang, GatedFactory<string> Second)> StartHungLeaderAsync(CacheHarness h)
    {
        var hang = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new GatedFactory<string>();
        var leader = h.Cache.GetOrCreateAsync("k", _ => new ValueTask<string>(hang.Task)).AsTask();
        var waiting = Enumerable.Range(0, Waiters).Select(_ => h.Cache.GetOrCreateAsync("k", second.InvokeAsync).AsTask()).ToList();
        await Poll.UntilAsync(() => h.Metrics.Requests("collapsed") == Waiters && h.Clock.ActiveTimers == 1, "every waiter waits behind the hung leader, on the run's one LockTimeout timer");
        return (leader, waiting, hang, second);
    }

    [Fact]
    public async Task GetOrCreateAsync_WaitersBehindHungLeaderAfterLockTimeout_CollapseOntoOneNewRun()
    {
        using var h = new CacheHarness(o => o.LockTimeout = TimeSpan.FromSeconds(3));
        var (leader, waiting, hang, second) = await StartHungLeaderAsync(h);

        h.Clock.Advance(TimeSpan.FromSeconds(3));
        await Poll.UntilAsync(() => second.Calls >= 1, "a new run started");
        second.Release("second");
        var values = await Poll.Within(Task.WhenAll(waiting.Append(leader)), "the waiters and the hung run's own caller");

        second.Calls.Should().Be(1, "the waiters that gave up share one new run");
        h.Metrics.Counter("stampedeguard.lock_timeouts").Should().Be(1, "one takeover of the hung run");
        values.Should().OnlyContain(v => v == "second");
        hang.SetResult("first");
    }

    [Fact]
    public async Task GetOrCreateAsync_WaitersBehindHungLeaderBeforeLockTimeout_KeepWaiting()
    {
        using var h = new CacheHarness(o => o.LockTimeout = TimeSpan.FromSeconds(3));
        var (leader, waiting, hang, second) = await StartHungLeaderAsync(h);

        h.Clock.Advance(TimeSpan.FromSeconds(2.9));

        waiting.Should().OnlyContain(t => !t.IsCompleted);
        second.Calls.Should().Be(0);
        hang.SetResult("first");
        (await Poll.Within(Task.WhenAll(waiting), "the waiters")).Should().OnlyContain(v => v == "first");
    }

    [Fact]
    public async Task GetOrCreateAsync_WaitersGiveUpAfterLockTimeout_EachRequestCountedOnce()
    {
        using var h = new CacheHarness(o => o.LockTimeout = TimeSpan.FromSeconds(3));
        var (leader, waiting, hang, second) = await StartHungLeaderAsync(h);

        await TakeOverHungLeaderAsync(h, second, waiting);
        hang.SetResult("first");
        await Poll.Within(leader, "the leader");

        h.Metrics.TotalRequests.Should().Be(1 + Waiters, "requests by result count each call once");
    }

    [Fact]
    public async Task GetOrCreateAsync_TenWaitersBehindHungFactoryWithLockTimeout_OneReplacementRunAndWaitsBoundedByLockTimeoutPlusHardTimeout()
    {
        using var h = new CacheHarness(o =>
        {
            o.LockTimeout = TimeSpan.FromMilliseconds(200);
            o.FactoryHardTimeout = TimeSpan.FromSeconds(3);
        });
        var runs = 0;
        async ValueTask<string> Hang(CancellationToken ct)
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(Timeout.Infinite, ct);
            return "never";
        }

        var calls = Enumerable.Range(0, 10).Select(_ => h.Cache.GetOrCreateAsync("k", Hang).AsTask()).ToList();
        await Poll.UntilAsync(() => Volatile.Read(ref runs) == 1 && h.Metrics.Requests("collapsed") == 9, "ten callers on one run");

        h.Clock.Advance(TimeSpan.FromMilliseconds(200));
        await Poll.UntilAsync(() => Volatile.Read(ref runs) == 2, "the one replacement run started");
        h.Clock.Advance(TimeSpan.FromSeconds(3)); // the replacement's hard timeout: 3.2 s after the first call

        foreach (var call in calls)
        {
            await FluentActions.Awaiting(() => Poll.Within(call, "a caller")).Should().ThrowAsync<StampedeFactoryTimeoutException>();
        }

        runs.Should().Be(2, "waiters that time out together collapse onto one replacement run");
        h.Metrics.Counter("stampedeguard.lock_timeouts").Should().Be(1);
    }
}
