using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using StampedeGuard.Distributed;
using StampedeGuard.Redis.Internal;

namespace StampedeGuard.Redis;

/// <summary>
/// The Redis tier: L2 store with the distributed barrier folded into its round trips, waiter wake-ups and backplane
/// on one pub/sub channel, and the lock primitives behind <see cref="RedisStampedeLock"/>.
/// <list type="bullet">
/// <item>A hit is one plain <c>HMGET</c> (no script); a miss's leader needs that, a Lua read-or-acquire, then a Lua
/// fenced write-release-publish; a waiter needs a read plus a push, which carries the value when it is small.</item>
/// <item>Every call is bounded by <see cref="RedisStampedeOptions.OperationTimeout"/> and guarded by a circuit breaker:
/// with Redis down the tier answers "nothing stored, no lock" at once and the engine keeps single-flight locally.
/// Creating the tier never blocks: a connection it opens itself connects in the background.</item>
/// <item>Lock and write requests carry a deadline that Redis checks against its own clock, so a request the caller has
/// given up on (queued in a client backlog while Redis was down, sent after it came back) takes no lock and writes nothing.</item>
/// <item>Continuations of its awaits never run on the client's reader thread.</item>
/// </list>
/// Built against StackExchange.Redis 2.7.27; works with any later 2.x and 3.x client (docs/redis.md).
/// </summary>
public sealed partial class RedisStampedeTier : IStampedeDistributedStore, IStampedeBackplane, IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan MaximumWait = TimeSpan.FromDays(1);
    private static readonly TimeSpan LeaseSlack = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan ClockSkewAllowance = TimeSpan.FromMilliseconds(100);
    private readonly RedisConnection _connection;
    private readonly RedisStampedeOptions _options;
    private readonly RedisKeys _keys;
    private readonly RedisGuard _guard;
    private readonly WaitRegistry _waits;
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly object _handlersGate = new();
    private readonly RedisChannel _channel;
    private Action<BackplaneMessage>[] _handlers = [];
    private int _disposed;
    private int _subscriptionBroken;
    private int _subscribeFailed;
    private ITimer? _heartbeat;
    private long _heartbeatSeen;
    private long _epoch;
    private int _heartbeating;
    private int _silent;
    private int _heardItself; // 1 once the node's own heartbeat came back (before: start-up, see HeartbeatAsync)
    private bool? _cluster;
    private int _probed;
    private string? _configurationError; // 1 once the server was asked whether it runs scripts (or while it is being asked)
    private long _aliveFor; // how long (ticks) a node may trust its copies after hearing its own heartbeat

    /// <summary>Creates the tier over the application's connection (which it uses and never disposes), of any supported client version.</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="options">The options; <see cref="RedisStampedeOptions.ConnectionMultiplexer"/> and <see cref="RedisStampedeOptions.Configuration"/> are ignored.</param>
    /// <param name="loggerFactory">The logger factory, if any.</param>
    /// <param name="timeProvider">The clock for leases and waits; <see cref="TimeProvider.System"/> when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> is null.</exception>
    public RedisStampedeTier(IConnectionMultiplexer connection, RedisStampedeOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(new RedisConnection(connection ?? throw new ArgumentNullException(nameof(connection))), options?.Clone() ?? new RedisStampedeOptions(), loggerFactory, timeProvider)
    {
    }

    private RedisStampedeTier(RedisConnection connection, RedisStampedeOptions options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
    {
        _connection = connection;
        _options = options;
        TimeProvider = timeProvider ?? TimeProvider.System;
        Logger = (ILogger?)loggerFactory?.CreateLogger<RedisStampedeTier>() ?? NullLogger.Instance;
        Metrics = new RedisMetrics(options.MeterFactory);
        _keys = new RedisKeys(options.KeyPrefix);
        _channel = RedisChannel.Literal(_keys.Channel);
        _guard = new RedisGuard(connection, options, Logger, Metrics, TimeProvider) { IsConfigurationError = NoteScriptingRefused };
        _waits = new WaitRegistry(TimeProvider);
        _onMessage = OnMessage;
        _aliveFor = options.HeartbeatInterval == Timeout.InfiniteTimeSpan ? 0 : 3 * options.HeartbeatInterval.Ticks;
        Subscribed = AttachAsync();
    }

    /// <inheritdoc />
    public bool SupportsLocking => true;

    /// <summary>
    /// Gets why the Redis server cannot serve this tier, found once at connect (for example Lua scripting disabled:
    /// Garnet started without <c>--lua</c>), with the fix; null when it can. While set, every call is answered without
    /// Redis at once (the cache runs on its local tier, invalidations throw), with one error logged (event 119), not
    /// one warning per call.
    /// </summary>
    public string? ConfigurationError => Volatile.Read(ref _configurationError);

    /// <summary>Gets this instance's id, carried in its messages so it never acts on its own.</summary>
    internal Guid InstanceId { get; } = Guid.NewGuid();

    /// <summary>Gets the connection once the first connect has finished, else null.</summary>
    internal IConnectionMultiplexer? Connection => _connection.Current;

    /// <summary>Gets whether the tier opened (and so owns) its connection.</summary>
    internal bool OwnsConnection => _connection.OwnsMultiplexer;

    /// <summary>Gets the channel carrying wake-ups and backplane messages.</summary>
    internal string Channel => _keys.Channel;

    /// <summary>Gets a task that completes when the connection exists and the channel subscription was attempted.</summary>
    internal Task Subscribed { get; }

    internal TimeProvider TimeProvider { get; }

    internal ILogger Logger { get; }

    internal RedisMetrics Metrics { get; }

    internal RedisStampedeOptions Options => _options;

    internal RedisKeys Keys => _keys;

    internal WaitRegistry Waits => _waits;

    internal bool IsCircuitOpen => _guard.IsBroken;

    /// <summary>Gets how many calls resumed their caller through a thread-pool hop of the guard's own (for tests).</summary>
    internal long GuardHops => _guard.Hops;

    internal bool IsOutageActive => _guard.Outage.IsActive;

    /// <inheritdoc />
    public async ValueTask<DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, DistributedWriteOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var bytes = MemoryMarshal.TryGetArray(envelope, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : envelope.ToArray();
        var lease = options.Lease;
        var lockKey = _keys.Lock(key);
        var now = TimeProvider.GetUtcNow().UtcTicks;
        var carry = bytes.Length <= _options.MaximumNotificationPayloadBytes;
        var releaseMessage = lease is not null ? Notification.Encode(Notification.Released, InstanceId, 0, now, lockKey, null) : [];
        var keys = WriteKeys(key, lockKey, options);
        var args = new RedisValue[]
        {
            bytes,
            FreshUntilMilliseconds(options.FreshUntil),
            Milliseconds(options.TimeToLive < _options.TagRetention ? options.TimeToLive : _options.TagRetention), // a tag record outlives every entry it invalidates
            lease?.Token ?? string.Empty,
            _keys.Channel,
            options.Notify ? Notification.Prefix((byte)BackplaneMessageKind.Set, carry) : [],
            options.Notify ? Notification.Rest(InstanceId, now, key) : [],
            carry ? "1" : "0",
            releaseMessage,
            0, // the deadline: set when the command is sent
            options.ExpectedVersion is { } expected ? expected : string.Empty,
            MicrosecondsFromStamp(options.ReadStamp),
            Milliseconds(_options.VersionRetention),
            options.ExpectedVersion is null && options.UnchangedSince > 0 ? MicrosecondsFromStamp(options.UnchangedSince) : string.Empty,
        };
        var reply = await EvaluateAsync("write", RedisScripts.Write, keys, args, deadlineAt: 9, cancellationToken).ConfigureAwait(false);
        if (reply is null || reply.IsNull)
        {
            // Redis could not be asked: the lease is not known to be lost (it is kept until it expires or is released).
            return new DistributedWriteResult { Outcome = DistributedOutcome.Unavailable };
        }

        var parts = (RedisResult[])reply!;
        var code = (long)parts[0];
        var version = (long)parts[1];
        switch (code)
        {
            case RedisScripts.Stale:
                Log.StaleRequestRefused(Logger, "write");
                return new DistributedWriteResult { Outcome = DistributedOutcome.Unavailable };
            case RedisScripts.Fenced:
                Metrics.FencedWrites.Add(1);
                Log.FencedWriteRefused(Logger, keys[0]!);
                (lease as RedisLease)?.MarkLost("a fenced write found another owner");
                return new DistributedWriteResult { Outcome = DistributedOutcome.LeaseLost };
            case RedisScripts.Superseded:
                // The lock (if any) is still ours: released when the run ends.
                return new DistributedWriteResult { Outcome = DistributedOutcome.Superseded, Version = version };
        }

        (lease as RedisLease)?.MarkReleased();
        return new DistributedWriteResult { Outcome = DistributedOutcome.Done, Version = version, Notified = code == 1 };
    }

    /// <summary>
    /// The write's keys: value, lock, version and, for a conditional write on standalone Redis, the records of the
    /// entry's tags (a cluster keeps them in other slots: there readers reject such an entry by the same records).
    /// </summary>
    private RedisKey[] WriteKeys(string key, string lockKey, in DistributedWriteOptions options)
    {
        var conditional = options.ExpectedVersion is not null || options.UnchangedSince > 0;
        if (!conditional || options.Tags is not { Count: > 0 } tags || IsCluster)
        {
            return [_keys.Value(key), lockKey, _keys.Version(key)];
        }

        var keys = new RedisKey[3 + tags.Count];
        keys[0] = _keys.Value(key);
        keys[1] = lockKey;
        keys[2] = _keys.Version(key);
        for (var i = 0; i < tags.Count; i++)
        {
            keys[3 + i] = _keys.Tag(tags[i]);
        }

        return keys;
    }

    /// <summary>Gets whether the connection is to a Redis Cluster (decided once connected; unknown counts as a cluster).</summary>
    private bool IsCluster
    {
        get
        {
            if (_cluster is { } known)
            {
                return known;
            }

            if (_connection.Current is not { } multiplexer)
            {
                return true;
            }

            var cluster = false;
            foreach (var endPoint in multiplexer.GetEndPoints())
            {
                cluster |= multiplexer.GetServer(endPoint).ServerType == ServerType.Cluster;
            }

            _cluster = cluster;
            return cluster;
        }
    }

    /// <inheritdoc />
    public async ValueTask<DistributedInvalidationResult> InvalidateAsync(DistributedInvalidation invalidation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(invalidation.Key, nameof(invalidation));
        var now = TimeProvider.GetUtcNow().UtcTicks;
        RedisResult? reply;
        if (invalidation.Kind == DistributedInvalidationKind.Tag)
        {
            var keys = new RedisKey[] { _keys.Tag(invalidation.Key) };
            var args = new RedisValue[]
            {
                _keys.Channel,
                Notification.Prefix((byte)BackplaneMessageKind.RemoveByTag, false),
                Notification.Rest(InstanceId, now, invalidation.Key),
                Milliseconds(_options.TagRetention),
                0, // the deadline: set when the command is sent
            };
            reply = await EvaluateAsync("invalidate tag", RedisScripts.InvalidateTag, keys, args, deadlineAt: 4, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var remove = invalidation.Kind == DistributedInvalidationKind.Remove;
            var keys = new RedisKey[] { _keys.Value(invalidation.Key), _keys.Version(invalidation.Key) };
            var args = new RedisValue[]
            {
                remove ? "r" : "e",
                _keys.Channel,
                Notification.Prefix((byte)(remove ? BackplaneMessageKind.Remove : BackplaneMessageKind.Expire), false),
                Notification.Rest(InstanceId, now, invalidation.Key),
                Milliseconds(_options.VersionRetention),
                0, // the deadline: set when the command is sent
            };
            reply = await EvaluateAsync(remove ? "remove" : "expire", RedisScripts.Invalidate, keys, args, deadlineAt: 5, cancellationToken).ConfigureAwait(false);
        }

        if (reply is null || reply.IsNull || (long)((RedisResult[])reply!)[0] != 1)
        {
            if (reply is { IsNull: false })
            {
                Log.StaleRequestRefused(Logger, invalidation.Kind.ToString());
            }

            return new DistributedInvalidationResult { Outcome = DistributedOutcome.Unavailable };
        }

        var parts = (RedisResult[])reply!;
        var version = (long)parts[1];
        return new DistributedInvalidationResult
        {
            Outcome = DistributedOutcome.Done,
            Version = version,
            Stamp = invalidation.Kind == DistributedInvalidationKind.Tag ? StampFromMicroseconds(version) : StampFromMicroseconds((long)parts[2]),
            Notified = true,
        };
    }

    /// <inheritdoc />
    public async ValueTask<DistributedTagsResult> ReadTagInvalidationsAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var keys = new RedisKey[tags.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = _keys.Tag(tags[i]);
        }

        // One round trip: the reads are pipelined (each tag's record lives in its own slot on a cluster).
        var values = await _guard.RunAsync("read tags", (database: _options.Database, keys), static async (m, s) =>
        {
            var database = m.GetDatabase(s.database);
            var pending = new Task<RedisValue>[s.keys.Length];
            for (var i = 0; i < pending.Length; i++)
            {
                pending[i] = database.StringGetAsync(s.keys[i]);
            }

            return (RedisValue[]?)await Task.WhenAll(pending).ConfigureAwait(false);
        }, null, cancellationToken).ConfigureAwait(false);
        if (values is null)
        {
            return new DistributedTagsResult { Outcome = DistributedOutcome.Unavailable };
        }

        var stamps = new long[values.Length];
        for (var i = 0; i < stamps.Length; i++)
        {
            stamps[i] = values[i].TryParse(out long microseconds) && microseconds > 0 ? StampFromMicroseconds(microseconds) : 0;
        }

        return new DistributedTagsResult { Outcome = DistributedOutcome.Done, Stamps = stamps };
    }

    /// <inheritdoc />
    public async ValueTask<DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slot = _waits.Enter(_keys.Lock(key));
        try
        {
            var baseline = _waits.TakeHint(slot, _waits.Sequence, out var lockExpires);
            var started = TimeProvider.GetTimestamp();

            // Re-check when the holder's lease would run out (a lost push costs at most that), or at maxWait.
            if (lockExpires != long.MaxValue)
            {
                var untilExpiry = TimeProvider.GetElapsedTime(started, lockExpires) + LeaseSlack;
                maxWait = maxWait == Timeout.InfiniteTimeSpan || untilExpiry < maxWait ? untilExpiry : maxWait;
            }

            while (true)
            {
                if (_waits.Check(slot, baseline, out var carried, out var version, out var next))
                {
                    if (carried is not null)
                    {
                        return new DistributedReadResult { Envelope = carried, Version = version };
                    }

                    break;
                }

                var left = maxWait == Timeout.InfiniteTimeSpan || maxWait > MaximumWait ? Timeout.InfiniteTimeSpan : maxWait - TimeProvider.GetElapsedTime(started);
                if (left != Timeout.InfiniteTimeSpan && left <= TimeSpan.Zero)
                {
                    break;
                }

                try
                {
                    await next.WaitAsync(left, TimeProvider, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    break;
                }
            }
        }
        finally
        {
            _waits.Exit(slot);
        }

        // Woken without the value (large, released without one, or messages lost), or the lease ran out: read once.
        return await ReadAsync(key, default, cancellationToken).ConfigureAwait(false);
    }

    private static string NewToken() => Guid.NewGuid().ToString("N");

    /// <summary>
    /// When Redis must stop honouring a request: sent now, given up by the caller after the operation timeout (which
    /// starts when the command can be sent, see <see cref="RedisGuard.RunAsync"/>). Compared with Redis's own clock
    /// (<c>TIME</c>), so it is the machine's real wall clock whatever <see cref="TimeProvider"/> drives leases.
    /// </summary>
    private static long Deadline(TimeSpan operationTimeout) => (TimeProvider.System.GetUtcNow() + operationTimeout + ClockSkewAllowance).ToUnixTimeMilliseconds();

    /// <summary>
    /// Runs a script through the guard on the configured database. <paramref name="deadlineAt"/> (or -1 for none) is
    /// the argument that gets the request's <see cref="Deadline"/>, computed when the connection is there and the
    /// command goes to the client: a first call that waited for the background connect is not refused as stale.
    /// </summary>
    /// <remarks>A server found unable to run scripts (<see cref="ConfigurationError"/>) is not asked: answered as "Redis could not be asked" at once.</remarks>
    private ValueTask<RedisResult?> EvaluateAsync(string operation, string script, RedisKey[] keys, RedisValue[] args, int deadlineAt, CancellationToken cancellationToken) =>
        ConfigurationError is not null
            ? new ValueTask<RedisResult?>((RedisResult?)null)
            : _guard.RunAsync(
                operation,
                (database: _options.Database, script, keys, args, deadlineAt, timeout: _options.OperationTimeout),
                static (m, s) =>
                {
                    if (s.deadlineAt >= 0)
                    {
                        s.args[s.deadlineAt] = Deadline(s.timeout);
                    }

                    return m.GetDatabase(s.database).ScriptEvaluateAsync(s.script, s.keys, s.args)!;
                },
                null,
                cancellationToken);

    private static long Milliseconds(TimeSpan value) => Math.Max(1, (long)Math.Ceiling(value.TotalMilliseconds));

    /// <summary>Redis's clock (microseconds since the Unix epoch) as UTC ticks.</summary>
    internal static long StampFromMicroseconds(long microseconds) => microseconds <= 0 ? 0 : DateTime.UnixEpoch.Ticks + (microseconds * 10);

    private static long MicrosecondsFromStamp(long stamp) => stamp <= DateTime.UnixEpoch.Ticks ? 0 : (stamp - DateTime.UnixEpoch.Ticks) / 10;

    private static long FreshUntilMilliseconds(DateTimeOffset value) =>
        value == DateTimeOffset.MaxValue ? long.MaxValue / 2 : Math.Max(0, value.ToUnixTimeMilliseconds());
}
