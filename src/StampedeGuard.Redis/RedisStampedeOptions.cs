using StackExchange.Redis;

namespace StampedeGuard.Redis;

/// <summary>
/// Options of the Redis tier (<see cref="RedisStampedeTier"/>) and lock (<see cref="RedisStampedeLock"/>).
/// Every setter validates and throws <see cref="ArgumentOutOfRangeException"/> naming the option.
/// </summary>
public sealed class RedisStampedeOptions
{
    private string _keyPrefix = "sg:";
    private TimeSpan _operationTimeout = TimeSpan.FromSeconds(1);
    private double _circuitBreakerFailureRatio = 0.5;
    private int _circuitBreakerMinimumThroughput = 4;
    private TimeSpan _circuitBreakerSamplingDuration = TimeSpan.FromSeconds(10);
    private TimeSpan _circuitBreakerBreakDuration = TimeSpan.FromSeconds(2);
    private int _maximumNotificationPayloadBytes = 64 * 1024;
    private TimeSpan _lockRetryInterval = TimeSpan.FromMilliseconds(250);
    private int _database = -1;
    private TimeSpan _versionRetention = TimeSpan.FromMinutes(10);
    private TimeSpan _tagRetention = TimeSpan.FromDays(7);
    private TimeSpan _heartbeatInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Gets or sets a StackExchange.Redis configuration string (for example <c>"127.0.0.1:6379"</c>), used when
    /// <see cref="ConnectionMultiplexer"/> is null. <c>abortConnect=false</c> is added so the tier starts while Redis is down.
    /// </summary>
    /// <value>Default null.</value>
    public string? Configuration { get; set; }

    /// <summary>Gets or sets the application's own connection. The tier uses it and never disposes it.</summary>
    /// <value>Default null: the tier connects with <see cref="Configuration"/> and owns that connection.</value>
    public IConnectionMultiplexer? ConnectionMultiplexer { get; set; }

    /// <summary>
    /// Gets or sets the prefix of every Redis key and of the notification channel, so several applications can share
    /// one Redis. Keys are laid out as <c>{prefix}{{key}}:v</c> (value) and <c>{prefix}{{key}}:l</c> (lock): the braces
    /// are a Redis Cluster hash tag, so a key's value and lock live in one slot.
    /// </summary>
    /// <value>Default <c>"sg:"</c>. May be empty.</value>
    public string KeyPrefix
    {
        get => _keyPrefix;
        set => _keyPrefix = value ?? throw new ArgumentNullException(nameof(KeyPrefix));
    }

    /// <summary>Gets or sets the database number (standalone Redis only).</summary>
    /// <value>Default -1: the connection's default database.</value>
    public int Database
    {
        get => _database;
        set => _database = value >= -1 ? value : throw new ArgumentOutOfRangeException(nameof(Database), value, "Database must be -1 or more.");
    }

    /// <summary>
    /// Gets or sets the longest any single Redis call may take. Past it the call counts as a failure and the tier
    /// answers as if Redis had nothing (a miss, no lock), so a slow Redis never slows callers by more than this.
    /// </summary>
    /// <value>Default 1 second. Must be positive.</value>
    public TimeSpan OperationTimeout
    {
        get => _operationTimeout;
        set => _operationTimeout = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(OperationTimeout), value, "OperationTimeout must be positive.");
    }

    /// <summary>Gets or sets the share of failed calls within <see cref="CircuitBreakerSamplingDuration"/> that opens the circuit.</summary>
    /// <value>Default 0.5. Must be greater than 0 and at most 1.</value>
    public double CircuitBreakerFailureRatio
    {
        get => _circuitBreakerFailureRatio;
        set => _circuitBreakerFailureRatio = value > 0 && value <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(CircuitBreakerFailureRatio), value, "CircuitBreakerFailureRatio must be in (0, 1].");
    }

    /// <summary>Gets or sets how many calls within <see cref="CircuitBreakerSamplingDuration"/> are needed before the circuit can open.</summary>
    /// <value>Default 4. Must be at least 2.</value>
    public int CircuitBreakerMinimumThroughput
    {
        get => _circuitBreakerMinimumThroughput;
        set => _circuitBreakerMinimumThroughput = value >= 2 ? value : throw new ArgumentOutOfRangeException(nameof(CircuitBreakerMinimumThroughput), value, "CircuitBreakerMinimumThroughput must be at least 2.");
    }

    /// <summary>Gets or sets the window over which the failure ratio is measured.</summary>
    /// <value>Default 10 seconds. Must be at least 0.5 seconds.</value>
    public TimeSpan CircuitBreakerSamplingDuration
    {
        get => _circuitBreakerSamplingDuration;
        set => _circuitBreakerSamplingDuration = value >= TimeSpan.FromMilliseconds(500) ? value : throw new ArgumentOutOfRangeException(nameof(CircuitBreakerSamplingDuration), value, "CircuitBreakerSamplingDuration must be at least 0.5 seconds.");
    }

    /// <summary>
    /// Gets or sets how long the circuit stays open (every Redis call skipped, answered as a miss at once) before one
    /// trial call checks whether Redis is back.
    /// </summary>
    /// <value>Default 2 seconds. Must be at least 0.5 seconds.</value>
    public TimeSpan CircuitBreakerBreakDuration
    {
        get => _circuitBreakerBreakDuration;
        set => _circuitBreakerBreakDuration = value >= TimeSpan.FromMilliseconds(500) ? value : throw new ArgumentOutOfRangeException(nameof(CircuitBreakerBreakDuration), value, "CircuitBreakerBreakDuration must be at least 0.5 seconds.");
    }

    /// <summary>
    /// Gets or sets whether Redis failures (connection errors, timeouts, an open circuit) reach callers. Off: they are
    /// logged, counted and answered as "nothing stored / lock not taken".
    /// </summary>
    /// <value>Default false.</value>
    public bool ThrowOnRedisErrors { get; set; }

    /// <summary>
    /// Gets or sets the largest value carried inside a notification, so waiters and other nodes get it without another
    /// round trip. Larger values are announced without the payload and read by whoever needs them.
    /// </summary>
    /// <value>Default 64 KiB. Zero never carries values.</value>
    public int MaximumNotificationPayloadBytes
    {
        get => _maximumNotificationPayloadBytes;
        set => _maximumNotificationPayloadBytes = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaximumNotificationPayloadBytes), value, "MaximumNotificationPayloadBytes must not be negative.");
    }

    /// <summary>
    /// Gets or sets how long a <see cref="RedisStampedeLock"/> waiter pauses before trying again when Redis could not be
    /// asked (down, circuit open). While Redis answers, waiters are woken by the release notification or the lease's
    /// expiry instead, and never poll.
    /// </summary>
    /// <value>Default 250 milliseconds. Must be positive.</value>
    public TimeSpan LockRetryInterval
    {
        get => _lockRetryInterval;
        set => _lockRetryInterval = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(LockRetryInterval), value, "LockRetryInterval must be positive.");
    }

    /// <summary>
    /// Gets or sets how long Redis remembers a key's latest change (its version) after the change. A run stores its
    /// value only if the key did not change since the run read it, and only within this long of that read: a run whose
    /// factory took longer answers its callers but stores nothing (so a forgotten invalidation can never be undone).
    /// </summary>
    /// <value>Default 10 minutes. Must be at least 1 second.</value>
    public TimeSpan VersionRetention
    {
        get => _versionRetention;
        set => _versionRetention = value >= TimeSpan.FromSeconds(1) ? value : throw new ArgumentOutOfRangeException(nameof(VersionRetention), value, "VersionRetention must be at least 1 second.");
    }

    /// <summary>
    /// Gets or sets how long Redis keeps a tag invalidation (<c>RemoveByTagAsync</c>, <c>"*"</c> too), so nodes that
    /// start later or missed the message honour it. No entry lives in Redis longer than this (its lifetime there is
    /// capped), so an invalidation always outlives the entries it invalidates.
    /// </summary>
    /// <value>Default 7 days. Must be at least 1 minute.</value>
    public TimeSpan TagRetention
    {
        get => _tagRetention;
        set => _tagRetention = value >= TimeSpan.FromMinutes(1) ? value : throw new ArgumentOutOfRangeException(nameof(TagRetention), value, "TagRetention must be at least 1 minute.");
    }

    /// <summary>
    /// Gets or sets how often a node sends itself a heartbeat through Redis. A node that has not seen its own heartbeat
    /// for two intervals (its subscription stopped delivering, or Redis is unreachable) drops its in-memory copies, and
    /// keeps dropping them every interval until it hears itself again; a heartbeat that finds Redis's epoch counter went
    /// back (a restart, a restore from an older snapshot, a failover to a lagging replica) invalidates everything stored
    /// before it. This bounds how long another node's invalidation can go unseen under faults: about three intervals.
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns heartbeats off (copies are then dropped only on connection events).
    /// </summary>
    /// <value>Default 500 milliseconds. Must be at least 50 milliseconds, or infinite.</value>
    public TimeSpan HeartbeatInterval
    {
        get => _heartbeatInterval;
        set => _heartbeatInterval = value >= TimeSpan.FromMilliseconds(50) || value == Timeout.InfiniteTimeSpan ? value : throw new ArgumentOutOfRangeException(nameof(HeartbeatInterval), value, "HeartbeatInterval must be at least 50 milliseconds, or infinite.");
    }

    /// <summary>Gets or sets the meter factory for the <c>StampedeGuard.Redis</c> meter.</summary>
    /// <value>Default null: a meter is created directly. Dependency injection sets it.</value>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; set; }

    /// <summary>Creates a copy whose changes do not affect this instance.</summary>
    /// <returns>The copy.</returns>
    public RedisStampedeOptions Clone() => (RedisStampedeOptions)MemberwiseClone();
}
