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
/// <item>A hit is one round trip; a miss's leader needs two (Lua read-or-acquire, then Lua fenced
/// write-release-publish); a waiter needs one plus a push, which carries the value when it is small.</item>
/// <item>Every call is bounded by <see cref="RedisStampedeOptions.OperationTimeout"/> and guarded by a circuit breaker:
/// with Redis down the tier answers "nothing stored, no lock" at once and the engine keeps single-flight locally.</item>
/// </list>
/// Uses only StackExchange.Redis API present in both 1.2.x and 2.x.
/// </summary>
public sealed partial class RedisStampedeTier : IStampedeDistributedStore, IStampedeBackplane, IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan MaximumWait = TimeSpan.FromDays(1);
    private static readonly TimeSpan LeaseSlack = TimeSpan.FromMilliseconds(50);
    private readonly IConnectionMultiplexer _connection;
    private readonly bool _ownsConnection;
    private readonly RedisStampedeOptions _options;
    private readonly RedisKeys _keys;
    private readonly RedisGuard _guard;
    private readonly WaitRegistry _waits;
    private readonly ISubscriber _subscriber;
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly object _handlersGate = new();
    private Action<BackplaneMessage>[] _handlers = [];
    private int _disposed;
    private int _subscriptionBroken;

    /// <summary>Creates the tier over the application's connection (which it never disposes).</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="options">The options; <see cref="RedisStampedeOptions.ConnectionMultiplexer"/> and <see cref="RedisStampedeOptions.Configuration"/> are ignored.</param>
    /// <param name="loggerFactory">The logger factory, if any.</param>
    /// <param name="timeProvider">The clock for leases and waits; <see cref="TimeProvider.System"/> when null.</param>
    public RedisStampedeTier(IConnectionMultiplexer connection, RedisStampedeOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(connection ?? throw new ArgumentNullException(nameof(connection)), false, options?.Clone() ?? new RedisStampedeOptions(), loggerFactory, timeProvider)
    {
    }

    private RedisStampedeTier(IConnectionMultiplexer connection, bool ownsConnection, RedisStampedeOptions options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
    {
        _connection = connection;
        _ownsConnection = ownsConnection;
        _options = options;
        TimeProvider = timeProvider ?? TimeProvider.System;
        Logger = (ILogger?)loggerFactory?.CreateLogger<RedisStampedeTier>() ?? NullLogger.Instance;
        Metrics = new RedisMetrics(options.MeterFactory);
        _keys = new RedisKeys(options.KeyPrefix);
        _guard = new RedisGuard(options, Logger, Metrics, TimeProvider);
        _waits = new WaitRegistry(TimeProvider);
        _subscriber = connection.GetSubscriber();
        _onMessage = OnMessage;
        connection.ConnectionRestored += OnConnectionRestored;
        connection.ConnectionFailed += OnConnectionFailed;
        Subscribed = SubscribeAsync();
    }

    /// <summary>Gets this instance's id, carried in its messages so it never acts on its own.</summary>
    public Guid InstanceId { get; } = Guid.NewGuid();

    /// <summary>Gets the connection.</summary>
    public IConnectionMultiplexer Connection => _connection;

    /// <summary>Gets the channel carrying wake-ups and backplane messages.</summary>
    public string Channel => _keys.Channel;

    /// <inheritdoc />
    public bool SupportsLocking => true;

    internal Task Subscribed { get; }

    internal TimeProvider TimeProvider { get; }

    internal ILogger Logger { get; }

    internal RedisMetrics Metrics { get; }

    internal RedisStampedeOptions Options => _options;

    internal RedisKeys Keys => _keys;

    internal WaitRegistry Waits => _waits;

    internal bool IsCircuitOpen => _guard.IsBroken;

    private IDatabase Database => _connection.GetDatabase(_options.Database);

    /// <summary>Connects to Redis (or uses <see cref="RedisStampedeOptions.ConnectionMultiplexer"/>) and subscribes to the channel.</summary>
    /// <param name="options">The options.</param>
    /// <param name="loggerFactory">The logger factory, if any.</param>
    /// <param name="timeProvider">The clock for leases and waits; <see cref="TimeProvider.System"/> when null.</param>
    /// <returns>The tier. It works (answering misses) while Redis is unreachable and uses Redis once it is.</returns>
    /// <exception cref="ArgumentException">Neither a connection nor a configuration string was given.</exception>
    public static async Task<RedisStampedeTier> ConnectAsync(RedisStampedeOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.Clone();
        var owns = options.ConnectionMultiplexer is null;
        var connection = options.ConnectionMultiplexer
            ?? await ConnectionMultiplexer.ConnectAsync(ParseConfiguration(options)).ConfigureAwait(false);
        var tier = new RedisStampedeTier(connection, owns, options, loggerFactory, timeProvider);
        await tier.Subscribed.ConfigureAwait(false);
        return tier;
    }

    internal static RedisStampedeTier Connect(RedisStampedeOptions options, IConnectionMultiplexer? registered, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
    {
        options = options.Clone();
        var given = options.ConnectionMultiplexer ?? registered;
        return new RedisStampedeTier(given ?? ConnectionMultiplexer.Connect(ParseConfiguration(options)), given is null, options, loggerFactory, timeProvider);
    }

    /// <inheritdoc />
    public async ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var acquire = options.LockMode == DistributedLockMode.AcquireIfNotFresh;
        var lockKey = _keys.Lock(key);
        var slot = acquire ? _waits.Enter(lockKey) : null;
        var sequence = _waits.Sequence;
        var token = acquire ? NewToken() : string.Empty;
        var lease = options.LeaseDuration > TimeSpan.Zero ? options.LeaseDuration : TimeSpan.FromSeconds(30);
        var sent = TimeProvider.GetTimestamp();
        try
        {
            var keys = new RedisKey[] { _keys.Value(key), lockKey };
            var args = new RedisValue[] { acquire ? 1 : 0, acquire ? options.Now.ToUnixTimeMilliseconds() : 0, token, Milliseconds(lease) };
            var reply = await _guard.RunAsync("read", (db: Database, keys, args), static s => s.db.ScriptEvaluateAsync(RedisScripts.Read, s.keys, s.args), null, cancellationToken).ConfigureAwait(false);
            if (reply is null || reply.IsNull)
            {
                return default;
            }

            var parts = (RedisResult[])reply!;
            var envelope = parts[0].IsNull ? null : (byte[]?)parts[0];
            if ((long)parts[1] == 1)
            {
                Metrics.CorruptValues.Add(1);
                Log.CorruptValue(Logger, keys[0]!);
            }

            var code = (long)parts[2];
            if (code == RedisScripts.Acquired)
            {
                return new DistributedReadResult(envelope, new RedisLease(this, key, lockKey, token, lease, autoExtend: true, sent));
            }

            if (code > 0 && slot is not null)
            {
                var heldFor = TimeSpan.FromMilliseconds(code);
                _waits.KeepHint(slot, sequence, heldFor);
                slot = null;
                return new DistributedReadResult(envelope, null, heldFor);
            }

            return new DistributedReadResult(envelope);
        }
        finally
        {
            if (slot is not null)
            {
                _waits.Exit(slot);
            }
        }
    }

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
        var setMessage = options.Notify ? Notification.EncodeHeader((byte)BackplaneMessageKind.Set, InstanceId, now, key, carry) : [];
        var releaseMessage = lease is not null ? Notification.Encode(Notification.Released, InstanceId, now, lockKey, null) : [];
        var keys = new RedisKey[] { _keys.Value(key), lockKey };
        var args = new RedisValue[]
        {
            bytes,
            FreshUntilMilliseconds(options.FreshUntil),
            Milliseconds(options.TimeToLive),
            lease?.Token ?? string.Empty,
            _keys.Channel,
            setMessage,
            carry ? "1" : "0",
            releaseMessage,
        };
        var reply = await _guard.RunAsync("write", (db: Database, keys, args), static s => s.db.ScriptEvaluateAsync(RedisScripts.Write, s.keys, s.args), null, cancellationToken).ConfigureAwait(false);
        if (reply is null || reply.IsNull)
        {
            return new DistributedWriteResult(false, false);
        }

        var code = (long)reply;
        if (code < 0)
        {
            Metrics.FencedWrites.Add(1);
            Log.FencedWriteRefused(Logger, keys[0]!);
            (lease as RedisLease)?.MarkLost("a fenced write found another owner");
            return new DistributedWriteResult(false, false);
        }

        (lease as RedisLease)?.MarkReleased();
        return new DistributedWriteResult(true, code == 1);
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
                if (_waits.Check(slot, baseline, out var carried, out var next))
                {
                    if (carried is not null)
                    {
                        return new DistributedReadResult(carried);
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

    /// <inheritdoc />
    public async ValueTask RemoveAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        RedisKey valueKey = _keys.Value(key);
        await _guard.RunAsync("remove", (db: Database, valueKey), static s => s.db.KeyDeleteAsync(s.valueKey), false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!BeginDispose())
        {
            return;
        }

        try
        {
            await _subscriber.UnsubscribeAsync(_keys.Channel, _onMessage).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.OperationFailed(Logger, "unsubscribe", ex);
        }

        if (_ownsConnection)
        {
            await _connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            _connection.Dispose();
        }

        Metrics.Dispose();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!BeginDispose())
        {
            return;
        }

        _subscriber.Unsubscribe(_keys.Channel, _onMessage, CommandFlags.FireAndForget);
        if (_ownsConnection)
        {
            _connection.Dispose();
        }

        Metrics.Dispose();
    }

    private static ConfigurationOptions ParseConfiguration(RedisStampedeOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Configuration))
        {
            throw new ArgumentException("Set RedisStampedeOptions.Configuration or RedisStampedeOptions.ConnectionMultiplexer.", nameof(options));
        }

        var configuration = ConfigurationOptions.Parse(options.Configuration);
        configuration.AbortOnConnectFail = false;
        return configuration;
    }

    private static string NewToken() => Guid.NewGuid().ToString("N");

    private static long Milliseconds(TimeSpan value) => Math.Max(1, (long)Math.Ceiling(value.TotalMilliseconds));

    private static long FreshUntilMilliseconds(DateTimeOffset value) =>
        value == DateTimeOffset.MaxValue ? long.MaxValue / 2 : Math.Max(0, value.ToUnixTimeMilliseconds());

    private bool BeginDispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return false;
        }

        _connection.ConnectionRestored -= OnConnectionRestored;
        _connection.ConnectionFailed -= OnConnectionFailed;
        return true;
    }
}
