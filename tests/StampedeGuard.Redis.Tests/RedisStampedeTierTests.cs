using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using StampedeGuard.Distributed;
using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport.Redis;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Redis.Tests;

[Collection("redis")]
public sealed class RedisStampedeTierTests(RedisFixture redis) : RedisTierTestBase(redis)
{
    /// <summary>
    /// For the tests that count scripts: a heartbeat is a script too (every 500 ms per tier), and one that falls between
    /// two counts is not the call being counted (seen on a slow, freshly started Garnet).
    /// </summary>
    private static readonly Action<RedisStampedeOptions> NoHeartbeat = o => o.HeartbeatInterval = Timeout.InfiniteTimeSpan;

    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static DistributedReadOptions Acquire(DateTimeOffset? now = null) => new() { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = now ?? DateTimeOffset.UtcNow, LeaseDuration = Lease };

    private static DistributedWriteOptions Fenced(StampedeLease lease, DateTimeOffset? freshUntil = null) =>
        new() { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = freshUntil ?? DateTimeOffset.UtcNow.AddMinutes(1), Lease = lease, Notify = true };

    [Fact]
    public async Task ReadAsync_FreshValue_DoesNotTakeLock()
    {
        var tier = await TierAsync();
        await tier.WriteAsync("k", Bytes("v"), new DistributedWriteOptions { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = DateTimeOffset.UtcNow.AddMinutes(1), Notify = true }, default);

        var read = await tier.ReadAsync("k", Acquire(), default);

        read.Envelope.Should().Equal(Bytes("v"));
        read.Lease.Should().BeNull();
        read.LockHeldFor.Should().BeNull();
    }

    [Fact]
    public async Task ReadAsync_StaleValue_ReturnsItAndTakesLock()
    {
        var tier = await TierAsync();
        var now = DateTimeOffset.UtcNow;
        await tier.WriteAsync("k", Bytes("old"), new DistributedWriteOptions { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = now.AddSeconds(-1), Notify = true }, default);

        var read = await tier.ReadAsync("k", Acquire(now), default);

        read.Envelope.Should().Equal(Bytes("old"));
        read.Lease.Should().NotBeNull();
        await read.Lease!.ReleaseAsync();
    }

    [Fact]
    public async Task ReadAsync_LockHeldByOther_ReportsRemainingLease()
    {
        var a = await TierAsync();
        var b = await TierAsync();
        var leader = await a.ReadAsync("k", Acquire(), default);

        var waiter = await b.ReadAsync("k", Acquire(), default);

        leader.Lease.Should().NotBeNull();
        waiter.Lease.Should().BeNull();
        waiter.LockHeldFor.Should().BeGreaterThan(TimeSpan.Zero).And.BeLessThanOrEqualTo(Lease);
        await leader.Lease!.ReleaseAsync();
    }

    [Fact]
    public async Task WriteAsync_WithOwnedLease_WritesReleasesAndNotifies()
    {
        var tier = await TierAsync();
        var read = await tier.ReadAsync("k", Acquire(), default);

        var written = await tier.WriteAsync("k", Bytes("v"), Fenced(read.Lease!), default);
        var again = await tier.ReadAsync("k", Acquire(DateTimeOffset.UtcNow.AddHours(1)), default);

        (written.Outcome, written.Notified).Should().Be((DistributedOutcome.Done, true));
        written.Version.Should().BeGreaterThan(0, "Redis gives the key a new version with every write");
        again.Lease.Should().NotBeNull("the write released the lock, so a later stale read can take it");
        await again.Lease!.ReleaseAsync();
    }

    [Fact]
    public async Task WriteAsync_LeaderPausedPastItsLease_LateWriteRefusedAndNewerValueSurvives()
    {
        // The paused leader's clock never moves, so its watchdog never runs: a GC pause or a partition.
        var paused = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var slowLeader = await TierAsync(time: paused);
        var other = await TierAsync();
        var first = await slowLeader.ReadAsync("k", new DistributedReadOptions { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = TimeSpan.FromMilliseconds(300) }, default);
        first.Lease.Should().NotBeNull();

        // The lease expires in Redis; another node takes the lock and writes a newer value.
        StampedeLease? second = null;
        var stopwatch = Stopwatch.StartNew();
        while (second is null && stopwatch.Elapsed < TimeSpan.FromSeconds(10))
        {
            second = (await other.AcquireAsync("k", other.Keys.Lock("k"), Lease, autoExtend: true, default)).Lease;
            if (second is null)
            {
                await Task.Delay(50);
            }
        }

        second.Should().NotBeNull();
        (await other.WriteAsync("k", Bytes("newer"), Fenced(second!), default)).Written.Should().BeTrue();

        var late = await slowLeader.WriteAsync("k", Bytes("late"), Fenced(first.Lease!), default);

        late.Outcome.Should().Be(DistributedOutcome.LeaseLost);
        first.Lease!.LeaseLost.IsCancellationRequested.Should().BeTrue();
        (await other.ReadAsync("k", default, default)).Envelope.Should().Equal(Bytes("newer"));
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task RoundTrips_ColdLeaderThenHit_TwoScriptsForTheLeaderOnePlainReadForTheHit()
    {
        var tier = await TierAsync(NoHeartbeat);
        var start = await Redis.CommandStatsAsync();

        var leader = await tier.ReadAsync("k", Acquire(), default);
        await tier.WriteAsync("k", Bytes("v"), Fenced(leader.Lease!), default);
        var afterLeader = await Redis.CommandStatsAsync();
        var hit = await tier.ReadAsync("k", Acquire(), default);
        var afterHit = await Redis.CommandStatsAsync();

        // commandstats also counts the commands run inside scripts (the read script's HMGET among them).
        long Delta(Dictionary<string, long> from, Dictionary<string, long> to, string command) => to.GetValueOrDefault(command) - from.GetValueOrDefault(command);
        long Scripts(Dictionary<string, long> from, Dictionary<string, long> to) => Delta(from, to, "evalsha") + Delta(from, to, "eval");
        hit.Envelope.Should().Equal(Bytes("v"));
        hit.Lease.Should().BeNull();
        Scripts(start, afterLeader).Should().Be(2, "the leader: one read-or-acquire, one fenced write-release-publish (after a plain read that found nothing)");
        Delta(start, afterLeader, "hmget").Should().Be(2, "the plain read, and the one inside read-or-acquire");
        Scripts(afterLeader, afterHit).Should().Be(0, "a hit runs no script");
        Delta(afterLeader, afterHit, "hmget").Should().Be(1, "a hit is one plain hash read");
    }

    [Fact]
    public async Task WaitForValueAsync_LeaderWrites_WaiterGetsValueFromPushWithoutAnotherRead()
    {
        var leaderTier = await TierAsync(NoHeartbeat);
        var waiterTier = await TierAsync(NoHeartbeat);
        var leader = await leaderTier.ReadAsync("k", Acquire(), default);
        var blocked = await waiterTier.ReadAsync("k", Acquire(), default);
        blocked.LockHeldFor.Should().NotBeNull();
        var before = await Redis.CommandStatsAsync();

        var wait = waiterTier.WaitForValueAsync("k", Lease, default).AsTask();
        await leaderTier.WriteAsync("k", Bytes("v"), Fenced(leader.Lease!), default);
        var result = await wait.WaitAsync(TimeSpan.FromSeconds(5));

        var after = await Redis.CommandStatsAsync();
        result.Envelope.Should().Equal(Bytes("v"));
        long Calls(Dictionary<string, long> s, string c) => s.GetValueOrDefault(c);
        var scripts = Calls(after, "evalsha") + Calls(after, "eval") - Calls(before, "evalsha") - Calls(before, "eval");
        scripts.Should().Be(1, "only the leader's write ran a script; the waiter was answered by the push");
    }

    [Fact]
    public async Task WaitForValueAsync_PublishLandsBetweenReadAndWait_StillSeen()
    {
        var leaderTier = await TierAsync();
        var waiterTier = await TierAsync();
        var leader = await leaderTier.ReadAsync("k", Acquire(), default);
        var blocked = await waiterTier.ReadAsync("k", Acquire(), default);

        // The value is published (and delivered) before the waiter starts waiting.
        await leaderTier.WriteAsync("k", Bytes("v"), Fenced(leader.Lease!), default);
        await WaitUntilAsync(() => waiterTier.Waits.Sequence > 0);
        var stopwatch = Stopwatch.StartNew();
        var result = await waiterTier.WaitForValueAsync("k", Lease, default);

        blocked.LockHeldFor.Should().NotBeNull();
        result.Envelope.Should().Equal(Bytes("v"));
        stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(3), "the hint kept from the read saw the message; the lease is 10 s");
    }

    [Fact]
    public async Task WaitForValueAsync_PushLost_WaiterFinishesWhenTheLeaseRunsOut()
    {
        var leaderTier = await TierAsync();
        var waiterTier = await TierAsync();
        var lease = TimeSpan.FromSeconds(1);
        var leader = await leaderTier.ReadAsync("k", new DistributedReadOptions { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = DateTimeOffset.UtcNow, LeaseDuration = lease }, default);
        var blocked = await waiterTier.ReadAsync("k", Acquire(), default);
        var stopwatch = Stopwatch.StartNew();
        blocked.LockHeldFor.Should().BeLessThanOrEqualTo(lease);

        // maxWait far beyond the lease: the store itself re-checks when the holder's lease would run out.
        var wait = waiterTier.WaitForValueAsync("k", TimeSpan.FromSeconds(30), default).AsTask();

        // The value lands and the lock goes away, but the message never arrives (written behind the tier's back).
        await Redis.Server.CliAsync("hset", Prefix + "{k}:v", "v", "v", "f", "9999999999999");
        await Redis.Server.CliAsync("del", Prefix + "{k}:l");
        var result = await wait.WaitAsync(TimeSpan.FromSeconds(10));

        result.Envelope.Should().Equal(Bytes("v"));
        stopwatch.Elapsed.Should().BeGreaterThan(lease / 2, "nothing woke the waiter early: it re-checked when the lease ran out");
        stopwatch.Elapsed.Should().BeLessThan(lease + TimeSpan.FromSeconds(3));
        await WaitUntilAsync(() => leader.Lease!.LeaseLost.IsCancellationRequested);
    }

    [Fact]
    public async Task ReadAsync_ValueOfAnotherTypeUnderOurKey_IsMissLoggedAndCounted()
    {
        using var loggers = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(loggers));
        var tier = await TierAsync(loggers: factory);
        await Redis.Server.CliAsync("set", Prefix + "{k}:v", "not a hash");

        var read = await tier.ReadAsync("k", Acquire(), default);

        read.Envelope.Should().BeNull();
        read.Lease.Should().NotBeNull("a corrupt value is a miss, so the reader leads");
        loggers.Collector.GetSnapshot().Should().Contain(r => r.Id.Id == 103);
        (await tier.WriteAsync("k", Bytes("repaired"), Fenced(read.Lease!), default)).Written.Should().BeTrue();
        (await tier.ReadAsync("k", default, default)).Envelope.Should().Equal(Bytes("repaired"));
    }

    [Fact]
    public async Task Backplane_PublishedMessage_ReachesOthersButNotSender()
    {
        var a = await TierAsync();
        var b = await TierAsync();
        var atA = new List<BackplaneMessage>();
        var atB = new TaskCompletionSource<BackplaneMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Alive and Reset are raised by a tier to its own node, never published: not part of what travels.
        static bool Published(BackplaneMessage m) => m.Kind is not (BackplaneMessageKind.Alive or BackplaneMessageKind.Reset);
        using var subA = a.Subscribe(m => { if (Published(m)) { lock (atA) { atA.Add(m); } } });
        using var subB = b.Subscribe(m => { if (Published(m)) { atB.TrySetResult(m); } });

        await a.PublishAsync(new BackplaneMessage { Kind = BackplaneMessageKind.Set, Key = "k{1}", Envelope = Bytes("env"), Timestamp = 42 }, default);
        var received = await atB.Task.WaitAsync(TimeSpan.FromSeconds(5));

        // A marker from B, sent after, proves A's own message was processed (and dropped) by the time it arrives.
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var markerSub = a.Subscribe(m => { if (m.Key == "marker") { marker.TrySetResult(); } });
        await b.PublishAsync(new BackplaneMessage { Kind = BackplaneMessageKind.Remove, Key = "marker" }, default);
        await marker.Task.WaitAsync(TimeSpan.FromSeconds(5));

        received.Should().BeEquivalentTo(new BackplaneMessage { Kind = BackplaneMessageKind.Set, Key = "k{1}", Envelope = Bytes("env"), Timestamp = 42 });
        lock (atA)
        {
            atA.Select(m => m.Key).Should().Equal("marker");
        }
    }

    [Fact]
    public async Task Keys_ValueAndLockOfAKey_ShareAHashTag()
    {
        var keys = new Internal.RedisKeys("p:");

        keys.Value("a}b").Should().Be("p:{a\\)b}:v");
        keys.Lock("a}b").Should().Be("p:{a\\)b}:l");
        keys.Value("}").Should().NotBe(keys.Value("\\)"));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            stopwatch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10));
            await Task.Delay(10);
        }
    }

    private static DistributedWriteOptions Plain => new() { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = DateTimeOffset.UtcNow.AddMinutes(1), Notify = true };

    [Theory]
    [InlineData(DistributedInvalidationKind.Remove)]
    [InlineData(DistributedInvalidationKind.Expire)]
    public async Task WriteAsync_ExpectedVersionAndKeyInvalidatedSinceTheRead_RefusedAsSupersededAndNothingWritten(DistributedInvalidationKind kind)
    {
        var tier = await TierAsync();
        await tier.WriteAsync("k", Bytes("v1"), Plain, default);
        var read = await tier.ReadAsync("k", default, default);
        var invalidated = await tier.InvalidateAsync(new DistributedInvalidation { Kind = kind, Key = "k" }, default);

        var late = await tier.WriteAsync("k", Bytes("late"), Plain with { ExpectedVersion = read.Version, ReadStamp = read.Stamp }, default);

        invalidated.Version.Should().BeGreaterThan(read.Version, "every change gets a newer version");
        late.Outcome.Should().Be(DistributedOutcome.Superseded);
        var after = await tier.ReadAsync("k", default, default);
        (after.Envelope is null ? null : Encoding.UTF8.GetString(after.Envelope)).Should().Be(kind == DistributedInvalidationKind.Remove ? null : "v1");
        after.Expired.Should().Be(kind == DistributedInvalidationKind.Expire);
    }

    [Fact]
    public async Task WriteAsync_ExpectedVersionUnchanged_WrittenWithANewerVersion()
    {
        var tier = await TierAsync();
        var read = await tier.ReadAsync("k", default, default);

        var written = await tier.WriteAsync("k", Bytes("v"), Plain with { ExpectedVersion = read.Version, ReadStamp = read.Stamp }, default);

        written.Outcome.Should().Be(DistributedOutcome.Done);
        written.Version.Should().BeGreaterThan(read.Version);
        (await tier.ReadAsync("k", default, default)).Version.Should().Be(written.Version);
    }

    [Fact]
    public async Task WriteAsync_UnchangedSinceAndKeyChangedAfterIt_RefusedAsSuperseded()
    {
        var tier = await TierAsync();
        var before = (await tier.ReadAsync("k", default, default)).Stamp;
        await tier.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Remove, Key = "k" }, default);

        var refused = await tier.WriteAsync("k", Bytes("old"), Plain with { UnchangedSince = before }, default);
        var afterChange = (await tier.ReadAsync("k", default, default)).Stamp + TimeSpan.TicksPerMillisecond;
        var accepted = await tier.WriteAsync("k", Bytes("new"), Plain with { UnchangedSince = afterChange }, default);

        refused.Outcome.Should().Be(DistributedOutcome.Superseded, "the key changed after the run began");
        accepted.Outcome.Should().Be(DistributedOutcome.Done, "nothing changed after that instant");
    }
}
