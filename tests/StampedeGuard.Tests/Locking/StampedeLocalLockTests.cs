using StampedeGuard.Locking;
using StampedeGuard.Tests.Infrastructure;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests.Locking;

public sealed class StampedeLocalLockTests
{
    [Fact]
    public async Task AcquireAsync_ManyTasksOnOneName_MutualExclusionWithExactCount()
    {
        var locks = new StampedeLocalLock();
        const int tasks = 64;
        const int rounds = 50;
        var inside = 0;
        var maxInside = 0;
        var counter = 0;
        using var start = new CountdownEvent(1);

        var workers = Enumerable.Range(0, tasks).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            for (var i = 0; i < rounds; i++)
            {
                await using var lease = await locks.AcquireAsync("name");
                var now = Interlocked.Increment(ref inside);
                InterlockedMax(ref maxInside, now);
                var read = counter;
                await Task.Yield();
                counter = read + 1;
                Interlocked.Decrement(ref inside);
            }
        })).ToArray();
        start.Signal();
        await Poll.Within(Task.WhenAll(workers), "the workers");

        (counter, maxInside, locks.Count).Should().Be((tasks * rounds, 1, 0));
    }

    [Fact]
    public async Task TryAcquireAsync_NameHeld_ReturnsNull()
    {
        var locks = new StampedeLocalLock();
        await using var held = await locks.AcquireAsync("name");

        var second = await locks.TryAcquireAsync("name");

        second.Should().BeNull();
    }

    [Fact]
    public async Task TryAcquireAsync_OtherName_Acquired()
    {
        var locks = new StampedeLocalLock();
        await using var held = await locks.AcquireAsync("a");

        await using var other = await locks.TryAcquireAsync("b");

        other.Should().NotBeNull();
        locks.Count.Should().Be(2);
    }

    [Fact]
    public async Task TryAcquireAsync_WaitTimeoutElapsesOnFakeClock_ReturnsNull()
    {
        var clock = new FakeTimeProvider();
        var locks = new StampedeLocalLock(clock);
        await using var held = await locks.AcquireAsync("name");

        var waiting = locks.TryAcquireAsync("name", new StampedeLockOptions { WaitTimeout = TimeSpan.FromSeconds(5) }).AsTask();
        await Poll.UntilAsync(() => clock.ActiveTimers == 1, "the waiter's timeout timer exists");
        clock.Advance(TimeSpan.FromSeconds(4.9));
        var stillWaiting = !waiting.IsCompleted;
        clock.Advance(TimeSpan.FromSeconds(0.1));

        stillWaiting.Should().BeTrue();
        (await Poll.Within(waiting, "the timeout")).Should().BeNull();
        locks.Count.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_WaitTimeoutElapses_ThrowsLockTimeoutAndReclaimsName()
    {
        var clock = new FakeTimeProvider();
        var locks = new StampedeLocalLock(clock);
        var held = await locks.AcquireAsync("name");

        var waiting = locks.AcquireAsync("name", new StampedeLockOptions { WaitTimeout = TimeSpan.FromSeconds(5) }).AsTask();
        await Poll.UntilAsync(() => clock.ActiveTimers == 1, "the waiter's timeout timer exists");
        clock.Advance(TimeSpan.FromSeconds(5));

        await FluentActions.Awaiting(() => Poll.Within(waiting, "the timeout")).Should().ThrowAsync<StampedeLockTimeoutException>();
        await held.DisposeAsync();
        locks.Count.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_HolderReleases_WaiterAcquires()
    {
        var locks = new StampedeLocalLock();
        var held = await locks.AcquireAsync("name");
        var waiting = locks.AcquireAsync("name").AsTask();
        waiting.IsCompleted.Should().BeFalse();

        await held.DisposeAsync();
        await using var second = await Poll.Within(waiting, "the waiter");

        second.Name.Should().Be("name");
    }

    [Fact]
    public async Task ReleaseAsync_CalledTwice_DoesNotReleaseTheNextHolder()
    {
        var locks = new StampedeLocalLock();
        var first = await locks.AcquireAsync("name");
        await first.ReleaseAsync();
        await using var second = await locks.AcquireAsync("name");

        await first.ReleaseAsync();

        (await locks.TryAcquireAsync("name")).Should().BeNull();
    }

    [Fact]
    public async Task AcquireAsync_AllLeasesReleased_CountBackToZero()
    {
        var locks = new StampedeLocalLock();
        var leases = new List<StampedeLease>();
        for (var i = 0; i < 10; i++)
        {
            leases.Add(await locks.AcquireAsync("name" + i));
        }

        var held = locks.Count;
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        (held, locks.Count).Should().Be((10, 0));
    }

    [Fact]
    public async Task AcquireAsync_WaiterCancelled_ThrowsAndNameReclaimed()
    {
        var locks = new StampedeLocalLock();
        var held = await locks.AcquireAsync("name");
        using var cts = new CancellationTokenSource();
        var waiting = locks.AcquireAsync("name", cancellationToken: cts.Token).AsTask();

        await cts.CancelAsync();

        await FluentActions.Awaiting(() => Poll.Within(waiting, "the cancelled waiter")).Should().ThrowAsync<OperationCanceledException>();
        await held.DisposeAsync();
        locks.Count.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_WaitTimeoutOfSixtyDays_WaitsAndAcquiresWhenReleased()
    {
        var locks = new StampedeLocalLock();
        var held = await locks.AcquireAsync("name");

        var waiting = locks.AcquireAsync("name", new StampedeLockOptions { WaitTimeout = TimeSpan.FromDays(60) }).AsTask();
        await held.DisposeAsync();

        await using var lease = await Poll.Within(waiting, "the waiter");
        lease.Name.Should().Be("name");
    }

    [Fact]
    public async Task TryAcquireAsync_WaitTimeoutOfSixtyDaysOnFakeClock_WaitsAndAcquiresWhenReleased()
    {
        var locks = new StampedeLocalLock(new FakeTimeProvider());
        var held = await locks.AcquireAsync("name");

        var waiting = locks.TryAcquireAsync("name", new StampedeLockOptions { WaitTimeout = TimeSpan.FromDays(60) }).AsTask();
        await held.DisposeAsync();

        await using var lease = await Poll.Within(waiting, "the waiter");
        lease.Should().NotBeNull();
    }

    [Fact]
    public async Task AcquireAsync_QueuedWaiters_AcquireInFifoOrder()
    {
        var locks = new StampedeLocalLock();
        var held = await locks.AcquireAsync("name");
        var order = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var waiters = new List<Task>();
        for (var i = 0; i < 5; i++)
        {
            var id = i;
            var acquire = locks.AcquireAsync("name").AsTask();
            waiters.Add(acquire.ContinueWith(
                async t =>
                {
                    order.Enqueue(id);
                    await t.Result.DisposeAsync();
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default).Unwrap());
            await Poll.UntilAsync(() => locks.Count == 1 && !acquire.IsCompleted, "the waiter queued");
        }

        await held.DisposeAsync();
        await Poll.Within(Task.WhenAll(waiters), "the waiters");

        order.Should().Equal(0, 1, 2, 3, 4);
        locks.Count.Should().Be(0);
    }

    [Fact]
    public void StampedeLockOptions_NegativeWaitTimeout_ThrowsArgumentOutOfRangeNamingOption()
    {
        var act = () => new StampedeLockOptions { WaitTimeout = TimeSpan.FromSeconds(-2) };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("WaitTimeout");
    }

    [Fact]
    public void StampedeLockOptions_ZeroLeaseDuration_ThrowsArgumentOutOfRangeNamingOption()
    {
        var act = () => new StampedeLockOptions { LeaseDuration = TimeSpan.Zero };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("LeaseDuration");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task AcquireAsync_NullOrEmptyName_ThrowsArgumentExceptionNamingName(string? name)
    {
        var locks = new StampedeLocalLock();

        var act = async () => await locks.AcquireAsync(name!);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("name");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
