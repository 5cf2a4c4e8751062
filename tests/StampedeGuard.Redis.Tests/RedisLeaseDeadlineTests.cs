using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using StampedeGuard.Locking;
using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// A process paused past its lease (GC pause, SIGSTOP) resumes with its timers not yet run: the lease must read as lost
/// at the first look, before any expiry timer or watchdog had a chance to say so. And a watchdog whose extension waits
/// on a slow Redis past its next tick must not lose the lease for it.
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

    [RedisFact(SkipOnGarnet = GarnetGaps.ClientPause)]
    public async Task Watchdog_ExtensionOutlastsTheNextTickThenTimesOut_TriesAgainAtOnceAndKeepsTheLease()
    {
        // A 30 s lease (ticks at 10, 20, 30 s) and a 15 s operation timeout on a clock the test moves. Redis holds the
        // first extension (writes paused) through the tick at 20 s; it times out at 25 s, 5 s before the lease runs out.
        // Waiting for the tick at 30 s would be too late: the next attempt must start when the first one gives up.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(logs));
        var tier = await TierAsync(o => o.OperationTimeout = TimeSpan.FromSeconds(15), loggers, clock);
        await using var lease = await new RedisStampedeLock(tier).AcquireAsync("job", new StampedeLockOptions { LeaseDuration = TimeSpan.FromSeconds(30) });
        int Extensions() => LeaseExtensions(logs).Count;

        await Redis.Server.CliAsync("client", "pause", "60000", "write");
        try
        {
            clock.Advance(TimeSpan.FromSeconds(10)); // first tick: the extension is sent and waits in Redis
            clock.Advance(TimeSpan.FromSeconds(10)); // second tick, while the first attempt still waits
            clock.Advance(TimeSpan.FromSeconds(5)); // the first attempt times out
        }
        finally
        {
            await Redis.Server.CliAsync("client", "unpause");
        }

        await Poll.UntilAsync(() => Extensions() > 0, "an extension after the timed-out one reached Redis");
        clock.Advance(TimeSpan.FromSeconds(6)); // past the end of the lease as first taken

        (Extensions(), lease.LeaseLost.IsCancellationRequested).Should().Be((1, false));
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
