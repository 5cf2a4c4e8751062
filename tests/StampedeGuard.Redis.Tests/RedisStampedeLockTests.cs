using System.Diagnostics;
using StampedeGuard.Locking;
using StampedeGuard.Redis.Tests.Infrastructure;

namespace StampedeGuard.Redis.Tests;

[Collection("redis")]
public sealed class RedisStampedeLockTests(RedisFixture redis) : RedisTierTestBase(redis)
{
    private async Task<RedisStampedeLock> LocksAsync() => new(await TierAsync());

    [Fact]
    public async Task TryAcquireAsync_Held_ReturnsNullUntilReleased()
    {
        var a = await LocksAsync();
        var b = await LocksAsync();

        var first = await a.TryAcquireAsync("job");
        var second = await b.TryAcquireAsync("job");
        await first!.DisposeAsync();
        var third = await b.TryAcquireAsync("job");

        first.Should().NotBeNull();
        second.Should().BeNull();
        third.Should().NotBeNull();
        await third!.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_WaitingForHolder_WokenByReleaseLongBeforeLeaseEnds()
    {
        var a = await LocksAsync();
        var b = await LocksAsync();
        var longLease = new StampedeLockOptions { LeaseDuration = TimeSpan.FromSeconds(60) };
        var held = await a.AcquireAsync("job", longLease);

        var waiting = b.AcquireAsync("job", longLease).AsTask();
        await Task.Delay(100);
        waiting.IsCompleted.Should().BeFalse();
        var stopwatch = Stopwatch.StartNew();
        await held.DisposeAsync();
        var acquired = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5), "the release notification woke the waiter; the lease was 60 s");
        acquired.Name.Should().Be("job");
        await acquired.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_WaitTimeoutElapses_Throws()
    {
        var a = await LocksAsync();
        var b = await LocksAsync();
        await using var held = await a.AcquireAsync("job");

        var act = async () => await b.AcquireAsync("job", new StampedeLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(300) });

        await act.Should().ThrowAsync<StampedeLockTimeoutException>();
    }

    [Fact]
    public async Task AcquireAsync_HolderNeverReleases_NextHolderGetsItWhenLeaseRunsOut()
    {
        var a = await LocksAsync();
        var b = await LocksAsync();
        var shortLease = new StampedeLockOptions { LeaseDuration = TimeSpan.FromMilliseconds(600), AutoExtend = false };
        var abandoned = await a.AcquireAsync("job", shortLease);

        var stopwatch = Stopwatch.StartNew();
        var next = await b.AcquireAsync("job", new StampedeLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) });

        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(4));
        abandoned.LeaseLost.IsCancellationRequested.Should().BeTrue("its lease expired without an extension");
        await next.DisposeAsync();
    }

    [Fact]
    public async Task Watchdog_HoldsLockPastSeveralLeases()
    {
        var a = await LocksAsync();
        var b = await LocksAsync();
        // Leases long enough that a loaded 2-core machine running the parallel classes cannot stall one extension
        // past them (a 600 ms lease was lost once under the full suite), short enough to need three extensions.
        var lease = new StampedeLockOptions { LeaseDuration = TimeSpan.FromMilliseconds(1500) };
        await using var held = await a.AcquireAsync("job", lease);

        // Three leases later the lock is still held, because the watchdog extended it every 500 ms.
        var attempt = await b.TryAcquireAsync("job", new StampedeLockOptions { WaitTimeout = TimeSpan.FromMilliseconds(4500) });

        attempt.Should().BeNull();
        held.LeaseLost.IsCancellationRequested.Should().BeFalse();
    }

    [Fact]
    public async Task LeaseLost_LockDeletedBehindOurBack_CancelledAtNextExtension()
    {
        var a = await LocksAsync();
        var held = await a.AcquireAsync("job", new StampedeLockOptions { LeaseDuration = TimeSpan.FromMilliseconds(900) });
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        held.LeaseLost.Register(() => lost.TrySetResult());

        await Redis.Server.CliAsync("del", Prefix + "lock:{job}");
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(5));

        held.LeaseLost.IsCancellationRequested.Should().BeTrue();
        await held.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_ManyContenders_OneHolderAtATime()
    {
        var locks = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => LocksAsync()));
        var inside = 0;
        var maxInside = 0;
        var entries = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            await using var lease = await locks[i % 4].AcquireAsync("shared", new StampedeLockOptions { WaitTimeout = TimeSpan.FromSeconds(30) });
            var now = Interlocked.Increment(ref inside);
            InterlockedMax(ref maxInside, now);
            await Task.Delay(20);
            Interlocked.Increment(ref entries);
            Interlocked.Decrement(ref inside);
        })));

        maxInside.Should().Be(1);
        entries.Should().Be(16);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
