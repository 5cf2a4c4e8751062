using StampedeGuard.Distributed;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    public static TheoryData<string> Invalidations => ["remove", "set", "expire", "tag", "all"];

    private static ValueTask Invalidate(StampedeCache cache, string how) => how switch
    {
        "remove" => cache.RemoveAsync("k"),
        "set" => cache.SetAsync("k", "set"),
        "expire" => cache.ExpireAsync("k"),
        "tag" => cache.RemoveByTagAsync("t"),
        _ => cache.RemoveByTagAsync("*"),
    };

    [Theory]
    [MemberData(nameof(Invalidations))]
    public async Task GetOrCreateAsync_CallAfterInvalidationDuringARun_StartsANewRunAndNeverGetsTheOldValue(string how)
    {
        using var h = new CacheHarness();
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        var tagged = new StampedeCacheEntryOptions { Tags = ["t"] };
        var a = h.Cache.GetOrCreateAsync("k", _ => { Interlocked.Increment(ref runs); return new ValueTask<string>(gate.Task); }, tagged).AsTask();
        await Poll.UntilAsync(() => Volatile.Read(ref runs) == 1, "run A started");

        await Invalidate(h.Cache, how);
        var b = h.Cache.GetOrCreateAsync("k", _ => { Interlocked.Increment(ref runs); return ValueTask.FromResult("new"); }, tagged).AsTask();
        gate.SetResult("old");
        var (fromA, fromB) = (await Poll.Within(a, "A"), await Poll.Within(b, "B"));

        // "set" leaves the set value for B; the others make B run its own factory.
        (fromA, fromB).Should().Be(("old", how == "set" ? "set" : "new"));
        (await h.Cache.TryGetAsync<string>("k")).Value.Should().Be(fromB, "the superseded run A stores nothing");
    }

    [Theory]
    [InlineData("set")]
    [InlineData("remove")]
    public async Task GetOrCreateAsync_FailSafeRunSupersededByInvalidation_DoesNotWriteTheOldValueBack(string how)
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromMilliseconds(100);
            o.StaleIfError = TimeSpan.FromHours(1);
            o.EarlyRefreshBeta = 0;
        });
        await h.Cache.SetAsync("k", "v1");
        h.Clock.Advance(TimeSpan.FromMilliseconds(200));
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = h.Cache.GetOrCreateAsync("k", _ => { started.TrySetResult(); return new ValueTask<string>(gate.Task); }).AsTask();
        await Poll.Within(started.Task, "the failing run started");

        await (how == "set" ? h.Cache.SetAsync("k", "v2") : h.Cache.RemoveAsync("k"));
        gate.SetException(new InvalidOperationException("origin down"));
        var served = await Poll.Within(run, "the run's caller");
        var lookup = await h.Cache.TryGetAsync<string>("k");

        served.Should().Be("v1", "the run's own caller joined before the invalidation and gets the fail-safe value");
        (lookup.HasValue, lookup.Value).Should().Be(how == "set" ? (true, "v2") : (false, null));
    }

    [Theory]
    [InlineData("set")]
    [InlineData("remove")]
    public async Task GetOrCreateAsync_InvalidationDuringTheRunsSlowL2Write_LastInvalidationWinsInBothTiers(string how)
    {
        var l2 = new AsyncDistributedCache(CacheHarness.NewL2());
        using var h = new CacheHarness(l2: l2);
        using var other = new CacheHarness(clock: h.Clock, l2: l2);
        var heldWrite = l2.HoldNextWrite();
        var run = h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("old")).AsTask();
        await Poll.UntilAsync(() => l2.HeldWrites == 1, "the run's L2 write is under way");

        var invalidation = how == "set" ? h.Cache.SetAsync("k", "new").AsTask() : h.Cache.RemoveAsync("k").AsTask();
        heldWrite.SetResult();
        await Poll.Within(Task.WhenAll(run, invalidation), "the run and the invalidation");

        var expected = how == "set" ? (true, "new") : (false, (string?)null);
        var local = await h.Cache.TryGetAsync<string>("k");
        var distributed = await other.Cache.TryGetAsync<string>("k");
        (local.HasValue, local.Value).Should().Be(expected, "L1");
        (distributed.HasValue, distributed.Value).Should().Be(expected, "L2");
    }

    [Fact]
    public async Task GetOrCreateAsync_FencedWriteRefused_StoresNothingOfItsOwnAndReadsTheWinner()
    {
        var l2 = CacheHarness.NewL2();
        var store = new FencingStore(l2);
        using var winner = new CacheHarness(l2: l2);
        using var h = new CacheHarness(clock: winner.Clock, l2: null, configure: null, store: store);
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = h.Cache.GetOrCreateAsync("k", _ => { started.TrySetResult(); return new ValueTask<string>(gate.Task); }).AsTask();
        await Poll.Within(started.Task, "the run holds the lease and runs");

        // Our lease expires, another node takes over and writes v2; our late write is refused.
        store.RefuseFencedWrites = true;
        await winner.Cache.SetAsync("k", "v2");
        gate.SetResult("late");
        var served = await Poll.Within(run, "the run's caller");
        var lookup = await h.Cache.TryGetAsync<string>("k");

        served.Should().Be("late", "the run's own caller may get its result");
        lookup.Value.Should().Be("v2");
        h.LogsWithEventId(8).Should().ContainSingle();
    }

    [Fact]
    public async Task GetOrCreateAsync_FencedWriteFailsBecauseStoreUnavailable_KeptLocallyAndNoLeaseLostLog()
    {
        var store = new FencingStore(CacheHarness.NewL2()) { UnavailableFencedWrites = true };
        using var h = new CacheHarness(store: store);
        var calls = 0;

        var first = await h.Cache.GetOrCreateAsync("k", _ => { calls++; return ValueTask.FromResult("v1"); });
        var second = await h.Cache.GetOrCreateAsync("k", _ => { calls++; return ValueTask.FromResult("v2"); });

        (first, second, calls).Should().Be(("v1", "v1", 1), "a store outage is not a lost lease: the node keeps its value in L1");
        h.LogsWithEventId(8).Should().BeEmpty("the lease was not lost, the store was down");
    }

    [Fact]
    public async Task GetOrCreateAsync_LeaseLostWhileFactoryRan_ResultNotWrittenAnywhereAndFactorySawTheSignal()
    {
        var l2 = CacheHarness.NewL2();
        var store = new FencingStore(l2);
        using var h = new CacheHarness(store: store);
        var sawLost = false;

        var value = await h.Cache.GetOrCreateAsync<int, string>("k", 0, (_, context, _) =>
        {
            store.LoseLeases(); // the watchdog's extension was refused while the factory worked
            sawLost = context.LeaseLost.IsCancellationRequested;
            return ValueTask.FromResult("late");
        }, new StampedeCacheEntryOptions());

        value.Should().Be("late", "the run's own caller may get its result");
        sawLost.Should().BeTrue("a factory that checks LeaseLost before a side effect sees it once it is signalled");
        store.Writes.Should().Be(0, "a lease known lost is not used for a write");
        (await h.Cache.TryGetAsync<string>("k")).HasValue.Should().BeFalse("nothing of a run without its lease is kept locally");
    }
}
