using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using StampedeGuard.Distributed;
using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// The read path: a fresh value is one plain HMGET (no script), everything else goes on to the read-or-acquire script;
/// the version in the value's hash is always the key's. Heartbeats are off so Redis's command counts are the test's own.
/// </summary>
[Collection("redis")]
public sealed class RedisReadPathTests(RedisFixture redis) : RedisTierTestBase(redis)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static DistributedReadOptions Acquire(DateTimeOffset? now = null) => new() { LockMode = DistributedLockMode.AcquireIfNotFresh, Now = now ?? DateTimeOffset.UtcNow, LeaseDuration = Lease };

    private static DistributedWriteOptions Plain(DateTimeOffset? freshUntil = null) =>
        new() { TimeToLive = TimeSpan.FromMinutes(1), FreshUntil = freshUntil ?? DateTimeOffset.UtcNow.AddMinutes(1), Notify = true };

    private Task<RedisStampedeTier> QuietTierAsync(ILoggerFactory? loggers = null) => TierAsync(o => o.HeartbeatInterval = Timeout.InfiniteTimeSpan, loggers);

    /// <summary>
    /// Commands Redis ran for <paramref name="action"/>: every HMGET (the plain read's, and the one inside each read
    /// script: Redis counts the commands a script runs too), and the scripts the client sent (eval + evalsha).
    /// </summary>
    private async Task<(long Hmget, long Scripts)> CountAsync(Func<Task> action)
    {
        var before = await Redis.CommandStatsAsync();
        await action();
        var after = await Redis.CommandStatsAsync();
        long Delta(string name) => after.GetValueOrDefault(name) - before.GetValueOrDefault(name);
        return (Delta("hmget"), Delta("evalsha") + Delta("eval"));
    }

    [Theory]
    [InlineData(DistributedLockMode.AcquireIfNotFresh)]
    [InlineData(DistributedLockMode.None)]
    public async Task ReadAsync_FreshValue_OneHmgetAndNoScript(DistributedLockMode mode)
    {
        var tier = await QuietTierAsync();
        var written = await tier.WriteAsync("k", Bytes("v"), Plain(), default);
        DistributedReadResult read = default;

        var counts = await CountAsync(async () => read = await tier.ReadAsync("k", Acquire() with { LockMode = mode }, default));

        counts.Should().Be((1L, 0L), "an L2 hit is one plain hash read: no script");
        read.Envelope.Should().Equal(Bytes("v"));
        read.Version.Should().Be(written.Version, "the version comes with the value");
        (read.Lease, read.LockHeldFor, read.Expired, read.Stamp).Should().Be((null, null, false, 0L));
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task ReadAsync_RequireStamp_ScriptAloneWithTheClock()
    {
        var tier = await QuietTierAsync();
        await tier.WriteAsync("k", Bytes("v"), Plain(), default);
        DistributedReadResult read = default;

        var counts = await CountAsync(async () => read = await tier.ReadAsync("k", Acquire() with { RequireStamp = true }, default));

        counts.Should().Be((1L, 1L), "the script alone (its own HMGET inside)");
        read.Envelope.Should().Equal(Bytes("v"));
        read.Stamp.Should().BeGreaterThan(0);
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task ReadAsync_StaleValue_NotAnsweredByThePlainReadAndLockTaken()
    {
        var tier = await QuietTierAsync();
        var now = DateTimeOffset.UtcNow;
        await tier.WriteAsync("k", Bytes("old"), Plain(now.AddMilliseconds(-1)), default);
        DistributedReadResult read = default;

        var counts = await CountAsync(async () => read = await tier.ReadAsync("k", Acquire(now), default));

        counts.Should().Be((2L, 1L), "the plain read finds it stale; the script (HMGET inside) judges it again and takes the lock");
        read.Envelope.Should().Equal(Bytes("old"));
        read.Lease.Should().NotBeNull();
        read.Stamp.Should().BeGreaterThan(0);
        await read.Lease!.ReleaseAsync();
    }

    [Fact]
    public async Task ReadAsync_FreshUntilEqualToNow_IsStaleAsTheScriptJudgesIt()
    {
        var tier = await QuietTierAsync();
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await tier.WriteAsync("k", Bytes("edge"), Plain(now), default);

        var read = await tier.ReadAsync("k", Acquire(now), default);

        read.Lease.Should().NotBeNull("fresh means fresh-until > now, on both paths");
        await read.Lease!.ReleaseAsync();
    }

    [RedisTheory(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    [InlineData(DistributedLockMode.AcquireIfNotFresh)]
    [InlineData(DistributedLockMode.None)]
    public async Task ReadAsync_ExpiredValue_NeverAnsweredAsFresh(DistributedLockMode mode)
    {
        var tier = await QuietTierAsync();
        await tier.WriteAsync("k", Bytes("v"), Plain(DateTimeOffset.UtcNow.AddHours(1)), default);
        var expired = await tier.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Expire, Key = "k" }, default);
        DistributedReadResult read = default;

        var counts = await CountAsync(async () => read = await tier.ReadAsync("k", Acquire() with { LockMode = mode }, default));

        counts.Should().Be((2L, 1L), "an expired value goes on to the script");
        (read.Expired, read.Version).Should().Be((true, expired.Version));
        read.Envelope.Should().Equal(Bytes("v"));
        if (mode == DistributedLockMode.AcquireIfNotFresh)
        {
            read.Lease.Should().NotBeNull();
            await read.Lease!.ReleaseAsync();
        }
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task ReadAsync_Miss_LeaderTakesTheLockInTheSecondRoundTripAndWritesInTheThird()
    {
        var tier = await QuietTierAsync();
        DistributedReadResult read = default;

        var leader = await CountAsync(async () =>
        {
            read = await tier.ReadAsync("k", Acquire(), default);
            await tier.WriteAsync("k", Bytes("v"), Plain() with { Lease = read.Lease, ExpectedVersion = read.Version, ReadStamp = read.Stamp }, default);
        });

        read.Lease.Should().NotBeNull();
        read.Stamp.Should().BeGreaterThan(0, "a read that leads has Redis's clock (the run's origin)");
        leader.Should().Be((2L, 2L), "a cold key: the plain read, read-or-acquire (HMGET inside), fenced write");
        (await CountAsync(() => tier.ReadAsync("k", Acquire(), default).AsTask())).Should().Be((1L, 0L));
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task ReadAsync_LeaderHoldingAStaleCopy_TwoRoundTripsAsBefore()
    {
        var tier = await QuietTierAsync();
        var now = DateTimeOffset.UtcNow;
        await tier.WriteAsync("k", Bytes("old"), Plain(now.AddMilliseconds(-1)), default);

        var leader = await CountAsync(async () =>
        {
            // The engine asks for the clock when it holds a copy that is no longer fresh (a refresh, a stale hit).
            var read = await tier.ReadAsync("k", Acquire(now) with { RequireStamp = true }, default);
            read.Lease.Should().NotBeNull();
            await tier.WriteAsync("k", Bytes("new"), Plain() with { Lease = read.Lease, ExpectedVersion = read.Version, ReadStamp = read.Stamp }, default);
        });

        leader.Should().Be((1L, 2L), "read-or-acquire (HMGET inside), then the fenced write: no plain read");
    }

    [Fact]
    public async Task Versions_HashAndVersionKey_AgreeAfterWritesExpiriesAndRemovals()
    {
        var tier = await QuietTierAsync();
        var valueKey = Prefix + "{k}:v";
        var versionKey = Prefix + "{k}:g";
        var versions = new List<long>();

        async Task CheckAsync(string step, long version, bool hashExists)
        {
            versions.Add(version);
            (await Redis.Server.CliAsync("get", versionKey)).Trim().Should().Be(version.ToString(System.Globalization.CultureInfo.InvariantCulture), step);
            var inHash = (await Redis.Server.CliAsync("hget", valueKey, "g")).Trim();
            inHash.Should().Be(hashExists ? version.ToString(System.Globalization.CultureInfo.InvariantCulture) : string.Empty, step);
            var script = await tier.ReadAsync("k", new DistributedReadOptions { RequireStamp = true }, default);
            script.Version.Should().Be(version, step);
            var plain = await tier.ReadAsync("k", default, default);
            plain.Version.Should().Be(hashExists && !script.Expired ? version : script.Version, step);
        }

        await CheckAsync("write", (await tier.WriteAsync("k", Bytes("1"), Plain(), default)).Version, hashExists: true);
        await CheckAsync("expire", (await tier.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Expire, Key = "k" }, default)).Version, hashExists: true);
        await CheckAsync("write after expire", (await tier.WriteAsync("k", Bytes("2"), Plain(), default)).Version, hashExists: true);
        await CheckAsync("remove", (await tier.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Remove, Key = "k" }, default)).Version, hashExists: false);
        await CheckAsync("expire with no value", (await tier.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Expire, Key = "k" }, default)).Version, hashExists: false);
        var read = await tier.ReadAsync("k", Acquire(), default);
        await CheckAsync("run's write", (await tier.WriteAsync("k", Bytes("3"), Plain() with { Lease = read.Lease, ExpectedVersion = read.Version, ReadStamp = read.Stamp }, default)).Version, hashExists: true);

        versions.Should().BeInAscendingOrder().And.OnlyHaveUniqueItems("every change gets a newer version");
    }

    [Fact]
    public async Task ReadAsync_VersionKeyForgottenWhileTheValueLives_VersionFromTheHashAndARunCanStillStore()
    {
        // The version key lives VersionRetention (10 min); a value may live for days: the hash keeps the version.
        var tier = await QuietTierAsync();
        var written = await tier.WriteAsync("k", Bytes("v"), Plain(), default);
        await Redis.Server.CliAsync("del", Prefix + "{k}:g");

        var plain = await tier.ReadAsync("k", Acquire(), default);
        var script = await tier.ReadAsync("k", Acquire() with { RequireStamp = true }, default);
        var run = await tier.WriteAsync("k", Bytes("w"), Plain() with { ExpectedVersion = plain.Version, ReadStamp = script.Stamp }, default);
        var expired = await tier.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Expire, Key = "k" }, default);

        (plain.Version, script.Version).Should().Be((written.Version, written.Version));
        run.Outcome.Should().Be(DistributedOutcome.Done, "the key did not change since the read");
        run.Version.Should().BeGreaterThan(written.Version);
        expired.Version.Should().BeGreaterThan(run.Version);
    }

    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task ReadAsync_HashWithoutAVersion_GoesToTheScript()
    {
        // Written before versions were kept in the hash (or by hand): the script reads the version key.
        var tier = await QuietTierAsync();
        var written = await tier.WriteAsync("k", Bytes("v"), Plain(), default);
        await Redis.Server.CliAsync("hdel", Prefix + "{k}:v", "g");
        DistributedReadResult read = default;

        var counts = await CountAsync(async () => read = await tier.ReadAsync("k", Acquire(), default));

        counts.Should().Be((2L, 1L));
        (read.Version, read.Lease).Should().Be((written.Version, null));
        read.Envelope.Should().Equal(Bytes("v"));
    }

    [Theory]
    [InlineData("set", "not a hash")]
    [InlineData("rpush", "a", "list")]
    [InlineData("sadd", "a", "set")]
    public async Task ReadAsync_ValueOfAnotherType_MissFlaggedCorruptNeverAnError(string command, params string[] arguments)
    {
        using var loggers = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(loggers));
        var tier = await QuietTierAsync(factory);
        await Redis.Server.CliAsync([command, Prefix + "{k}:v", .. arguments]);

        var lookup = await tier.ReadAsync("k", default, default);
        var leader = await tier.ReadAsync("k", Acquire(), default);

        (lookup.Outcome, lookup.Envelope).Should().Be((DistributedOutcome.Done, null));
        (leader.Outcome, leader.Envelope).Should().Be((DistributedOutcome.Done, null));
        leader.Lease.Should().NotBeNull("a corrupt value is a miss: the reader leads");
        var events = loggers.Collector.GetSnapshot().Select(r => r.Id.Id).ToList();
        events.Should().Contain(103, "logged as a value that is not ours").And.NotContain(100, "not reported as a failed Redis call");
        tier.IsCircuitOpen.Should().BeFalse();
        await leader.Lease!.ReleaseAsync();
    }

    /// <summary>
    /// An L2 hit (in Redis, not in L1) is one plain HMGET and no script once hits dominate the node's reads; a node that
    /// has just started expects misses (it knows nothing of the store) and reads through the script, one round trip
    /// either way, until about 22 hits in a row change its mind.
    /// </summary>
    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task GetOrCreateAsync_ValueInRedisNotInL1_OneHmgetNoScriptOnceHitsDominate()
    {
        var tier = await QuietTierAsync();
        using var writer = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);
        const int Keys = 30;
        for (var i = 0; i < Keys; i++)
        {
            await writer.SetAsync($"k{i}", $"v{i}", new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5) });
        }

        var reader = await QuietTierAsync();
        using var node = new StampedeCache(new StampedeCacheOptions(), distributedStore: reader, backplane: reader);
        var read = new StampedeCacheEntryOptions { EarlyRefreshBeta = 0 };
        var values = new List<string>();
        var counts = new List<(long Hmget, long Scripts)>();
        for (var i = 0; i < Keys; i++)
        {
            counts.Add(await CountAsync(async () => values.Add(await node.GetOrCreateAsync($"k{i}", _ => ValueTask.FromResult("computed"), read))));
        }

        values.Should().Equal(Enumerable.Range(0, Keys).Select(i => $"v{i}"));
        counts[0].Should().Be((1L, 1L), "a fresh node expects a miss: the script alone (its HMGET inside)");
        counts.FindIndex(c => c.Scripts == 0).Should().BeInRange(16, 24, "it changes its mind after about 22 hits");
        counts[^1].Should().Be((1L, 0L), "once hits dominate an L2 hit is one plain hash read: no script");
    }

    /// <summary>A cold key on a node that has just started: the leader's two round trips are the read-or-acquire script and the fenced write (no plain read before them).</summary>
    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task GetOrCreateAsync_ColdKeyOnAFreshNode_LeaderTakesTwoRoundTrips()
    {
        var tier = await QuietTierAsync();
        using var node = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);
        string? value = null;

        var counts = await CountAsync(async () => value = await node.GetOrCreateAsync("cold", _ => ValueTask.FromResult("computed"), new StampedeCacheEntryOptions { EarlyRefreshBeta = 0 }));

        value.Should().Be("computed");
        counts.Should().Be((1L, 2L), "read-or-acquire (its HMGET inside) and the write; before, a plain HMGET came first (3 round trips)");
    }

    [Fact]
    public async Task GetOrCreateAsync_FreshValueInRedisWhoseTagWasInvalidated_RunsWithTheClockAndStores()
    {
        var tier = await QuietTierAsync();
        using var writer = new StampedeCache(new StampedeCacheOptions(), distributedStore: tier, backplane: tier);
        var tagged = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), Tags = ["t"], EarlyRefreshBeta = 0 };
        await writer.SetAsync("k", "old", tagged);
        await writer.RemoveByTagAsync("t");
        var reader = await QuietTierAsync();

        // The reading node's clock is 5 s behind and it has not learned Redis's yet: a run origin estimated from its
        // own clock would predate the tag's invalidation, and Redis would refuse the run's write.
        using var node = new StampedeCache(new StampedeCacheOptions { TimeProvider = new SkewedTimeProvider(TimeSpan.FromSeconds(-5)) }, distributedStore: reader, backplane: reader);
        string? value = null;

        var counts = await CountAsync(async () => value = await node.GetOrCreateAsync("k", _ => ValueTask.FromResult("new"), tagged));

        value.Should().Be("new", "the value in Redis predates the tag's invalidation");
        counts.Scripts.Should().Be(2, "read again with the clock (the plain answer had none), then the run's write");
        (await reader.ReadAsync("k", default, default)).Envelope.Should().NotBeNull();
        using var third = new StampedeCache(new StampedeCacheOptions(), distributedStore: reader, backplane: reader);
        (await third.GetOrCreateAsync("k", _ => ValueTask.FromResult("again"), tagged)).Should().Be("new", "the run's value was stored in Redis");
    }
}
