using StampedeGuard.Locking;
using StampedeGuard.Redis.Tests.Infrastructure;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// A process paused past its lease (GC pause, SIGSTOP) resumes with its timers not yet run: the lease must read as lost
/// at the first look, before any expiry timer or watchdog had a chance to say so.
/// </summary>
[Collection("redis")]
public sealed class RedisLeaseDeadlineTests(RedisFixture redis) : RedisTierTestBase(redis)
{
    [Fact]
    public async Task LeaseLost_ReadAfterThePausePassedTheLease_AlreadyCancelledThoughNoTimerFired()
    {
        var clock = new PausedTimersClock();
        var locks = new RedisStampedeLock(await TierAsync(time: clock));
        await using var lease = await locks.AcquireAsync("job", new StampedeLockOptions { LeaseDuration = TimeSpan.FromSeconds(2) });

        var before = lease.LeaseLost.IsCancellationRequested;
        clock.Pause(TimeSpan.FromSeconds(3)); // the process was frozen past its 2 s lease; no timer has run since

        (before, lease.LeaseLost.IsCancellationRequested).Should().Be((false, true));
    }

    [Fact]
    public async Task LeaseLost_ReadWithinTheLease_NotCancelled()
    {
        var clock = new PausedTimersClock();
        var locks = new RedisStampedeLock(await TierAsync(time: clock));
        await using var lease = await locks.AcquireAsync("job", new StampedeLockOptions { LeaseDuration = TimeSpan.FromSeconds(2) });

        clock.Pause(TimeSpan.FromSeconds(1));

        lease.LeaseLost.IsCancellationRequested.Should().BeFalse();
    }

    /// <summary>Real time plus a manual offset; timers are created but never fire (they would run only after the pause).</summary>
    private sealed class PausedTimersClock : TimeProvider
    {
        private long _offset;

        public void Pause(TimeSpan by) => Interlocked.Add(ref _offset, (long)(by.TotalSeconds * TimestampFrequency));

        public override long GetTimestamp() => TimeProvider.System.GetTimestamp() + Interlocked.Read(ref _offset);

        public override long TimestampFrequency => TimeProvider.System.TimestampFrequency;

        public override DateTimeOffset GetUtcNow() => TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(Interlocked.Read(ref _offset) / (double)TimestampFrequency);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new NeverTimer();

        private sealed class NeverTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => default;
        }
    }
}
