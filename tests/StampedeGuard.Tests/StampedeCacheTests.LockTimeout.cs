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
        await Poll.UntilAsync(() => h.Metrics.Requests("collapsed") == Waiters && h.Clock.ActiveTimers == Waiters, "every waiter waits behind the hung leader");
        return (leader, waiting, hang, second);
    }

    [Fact]
    public async Task GetOrCreateAsync_WaitersBehindHungLeaderAfterLockTimeout_CollapseOntoOneNewRun()
    {
        using var h = new CacheHarness(o => o.LockTimeout = TimeSpan.FromSeconds(3));
        var (leader, waiting, hang, second) = await StartHungLeaderAsync(h);

        h.Clock.Advance(TimeSpan.FromSeconds(3));
        await Poll.UntilAsync(() => h.Metrics.Counter("stampedeguard.lock_timeouts") == Waiters, "every waiter gave up on the hung run");
        await Poll.UntilAsync(() => second.Calls >= 1, "a new run started");
        second.Release("second");
        var values = await Poll.Within(Task.WhenAll(waiting), "the waiters");

        second.Calls.Should().Be(1, "the waiters that gave up share one new run");
        values.Should().OnlyContain(v => v == "second");
        leader.IsCompleted.Should().BeFalse();
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
}
