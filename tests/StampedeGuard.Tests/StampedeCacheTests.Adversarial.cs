using Microsoft.Extensions.Caching.Memory;
using StampedeGuard.Distributed;
using StampedeGuard.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static readonly TimeSpan ShortBound = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task GetOrCreateAsync_FactorySoftTimeoutWithoutStaleValue_CallerKeepsWaitingForFactory()
    {
        using var h = new CacheHarness(o => o.FactorySoftTimeout = TimeSpan.FromSeconds(1));
        var factory = new GatedFactory<string>();
        var call = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1, "the factory started");

        h.Clock.Advance(TimeSpan.FromSeconds(5));

        call.IsCompleted.Should().BeFalse("there is no stale value to fall back to");
        factory.Release("v");
        (await Poll.Within(call, "the factory")).Should().Be("v");
    }

    [Fact]
    public async Task GetOrCreateAsync_CollapsedWaiterWithStaleValueAfterSoftTimeout_GetsStaleValue()
    {
        using var h = SoftTimeoutHarness();
        var (leader, factory) = await StartSlowRefreshAsync(h);
        var waiter = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => h.Metrics.Requests("collapsed") == 1 && h.Clock.ActiveTimers >= 3, "the waiter joined (two soft timeouts and the run's LockTimeout timer)");

        h.Clock.Advance(TimeSpan.FromSeconds(1));

        (await Poll.Within(Task.WhenAll(leader, waiter), "the soft timeouts")).Should().Equal("old", "old");
        await Poll.UntilAsync(() => factory.Calls >= 1, "the factory started"); // factories start on the thread pool
        factory.Calls.Should().Be(1);
        factory.Release("new");
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryHardTimeoutWithCollapsedWaiters_AllGetTimeoutFromOneRun()
    {
        using var h = new CacheHarness(o => o.FactoryHardTimeout = TimeSpan.FromSeconds(2));
        var factory = new GatedFactory<string>();
        var calls = Enumerable.Range(0, 20).Select(_ => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask()).ToList();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Metrics.Requests("collapsed") == 19 && h.Clock.ActiveTimers > 0, "all callers on one flight");

        h.Clock.Advance(TimeSpan.FromSeconds(2));
        await Poll.Within(Task.WhenAll(calls).ContinueWith(_ => { }, TaskScheduler.Default), "the callers");

        calls.Should().OnlyContain(t => t.IsFaulted && t.Exception!.InnerException is StampedeFactoryTimeoutException);
        await Poll.UntilAsync(() => factory.Calls >= 1, "the factory started"); // factories start on the thread pool
        factory.Calls.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_HungLeaderFinishesAfterTakeover_DoesNotOverwriteNewerValue()
    {
        using var h = new CacheHarness(o => o.LockTimeout = TimeSpan.FromSeconds(3));
        var (leader, waiting, hang, second) = await StartHungLeaderAsync(h);
        await TakeOverHungLeaderAsync(h, second, waiting);

        // The abandoned run started before the takeover: its (older) result must not replace the newer one.
        hang.SetResult("first");
        await Poll.Within(leader, "the hung leader");

        (await h.Cache.TryGetAsync<string>("k")).Value.Should().Be("second");
    }

    [Fact]
    public async Task GetOrCreateAsync_LeaderCancelsWhileFactoryBlocksSynchronouslyUnderHardTimeout_LeaderWaitEnds()
    {
        // A configured hard timeout puts the factory on the thread pool, so the leader's own cancellation ends its wait.
        using var h = new CacheHarness(o => o.FactoryHardTimeout = TimeSpan.FromHours(1));
        using var blocked = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        using var cts = new CancellationTokenSource();
        var call = Task.Run(() => h.Cache.GetOrCreateAsync<string>("k", _ =>
        {
            entered.Set();
            blocked.Wait(TimeSpan.FromSeconds(10)); // synchronous work before the first await (sync I/O, CPU)
            return ValueTask.FromResult("v");
        }, cancellationToken: cts.Token).AsTask());
        entered.Wait(TimeSpan.FromSeconds(10)).Should().BeTrue();

        await cts.CancelAsync();
        try
        {
            await FluentActions.Awaiting(() => Poll.Within(call, "the cancelled leader", ShortBound)).Should().ThrowAsync<OperationCanceledException>();
        }
        finally
        {
            blocked.Set();
        }
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryBlocksSynchronouslyPastHardTimeout_CallerGetsTimeout()
    {
        using var h = new CacheHarness(o => o.FactoryHardTimeout = TimeSpan.FromSeconds(2));
        using var blocked = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        var call = Task.Run(() => h.Cache.GetOrCreateAsync<string>("k", _ =>
        {
            entered.Set();
            blocked.Wait(TimeSpan.FromSeconds(10));
            return ValueTask.FromResult("v");
        }).AsTask());
        entered.Wait(TimeSpan.FromSeconds(10)).Should().BeTrue();

        h.Clock.Advance(TimeSpan.FromSeconds(2));
        try
        {
            await FluentActions.Awaiting(() => Poll.Within(call, "the hard timeout", ShortBound)).Should().ThrowAsync<StampedeFactoryTimeoutException>();
        }
        finally
        {
            blocked.Set();
        }
    }

    [Fact]
    public async Task GetOrCreateAsync_SharedMemoryCacheHoldsUserEntryUnderSameKey_UserEntryLeftAlone()
    {
        using var memory = new MemoryCache(new MemoryCacheOptions());
        memory.Set("user:1", "the application's own entry");
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = new FakeTimeProvider() }, memory);

        var runs = 0;
        await cache.GetOrCreateAsync("user:1", _ => ValueTask.FromResult(40 + Interlocked.Increment(ref runs)));
        var hit = await cache.GetOrCreateAsync("user:1", _ => ValueTask.FromResult(40 + Interlocked.Increment(ref runs)));

        memory.Get("user:1").Should().Be("the application's own entry", "values are wrapped so other users of a shared IMemoryCache never collide with ours");
        (hit, runs).Should().Be((41, 1), "ours is kept beside the application's entry (under a key object of ours) and hits");
    }

    [Fact]
    public async Task GetOrCreateAsync_KeyPrefixOnCacheOptions_SeparatesTwoCachesSharingL2()
    {
        var l2 = CacheHarness.NewL2();
        var clock = new FakeTimeProvider();
        using var a = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock, KeyPrefix = "app-a:" }, distributedStore: new DistributedCacheStore(l2));
        using var b = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock, KeyPrefix = "app-b:" }, distributedStore: new DistributedCacheStore(l2));
        await a.SetAsync("k", "from a");

        var fromB = await b.GetOrCreateAsync("k", _ => ValueTask.FromResult("from b"));

        fromB.Should().Be("from b", "KeyPrefix separates applications sharing one distributed tier");
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryTakesTimeOnFakeClock_RecordsDurationInSeconds()
    {
        using var h = new CacheHarness();
        await FillWithMeasuredFactoryAsync(h, "v");

        h.Metrics.Recorded("stampedeguard.factory.duration").Should().ContainSingle().Which.Should().BeApproximately(FactoryTime.TotalSeconds, 1e-9);
    }
}
