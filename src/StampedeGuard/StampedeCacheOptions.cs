using System.IO.Compression;
using Microsoft.Extensions.Caching.Hybrid;
using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard;

/// <summary>Cache-wide options. Usable without dependency injection.</summary>
public sealed class StampedeCacheOptions
{
    private TimeProvider _timeProvider = TimeProvider.System;
    private StampedeCacheEntryOptions _defaultEntryOptions = new();
    private string _keyPrefix = string.Empty;
    private string? _cacheName;
    private int _maximumKeyLength = 1024;
    private int _maximumPayloadBytes = 1024 * 1024;
    private TimeSpan _distributedLockLease = TimeSpan.FromSeconds(10);
    private long _localCacheSizeLimit = DefaultLocalCacheSizeLimit;
    private StampedeCompression _distributedCompression = StampedeCompression.None;
    private int _distributedCompressionThreshold = 1024;
    private CompressionLevel _distributedCompressionLevel = CompressionLevel.Fastest;

    /// <summary>The default <see cref="LocalCacheSizeLimit"/>: 256 MiB.</summary>
    public const long DefaultLocalCacheSizeLimit = 256L * 1024 * 1024;

    /// <summary>
    /// Gets or sets the clock every expiry decision reads. Tests pass a fake clock.
    /// <para>
    /// How it is read, decided once when the cache is created: <see cref="TimeProvider.System"/> gives the wall clock at
    /// creation moved on by the monotonic timestamp, so a wall clock stepped back or forward changes no duration. A
    /// provider that overrides <see cref="TimeProvider.GetTimestamp"/> (Microsoft's <c>FakeTimeProvider</c>) is read the
    /// same way, through its own timestamp. A provider that overrides only <see cref="TimeProvider.GetUtcNow"/> (an
    /// <c>ISystemClock</c> bridge, many test clocks) keeps the real stopwatch as its timestamp, which moving the clock by
    /// hand never moves: the engine then reads its <see cref="TimeProvider.GetUtcNow"/> for everything (expiry, stale and
    /// fail-safe windows, fast-hit deadlines, factory durations), so advancing it expires entries. Timers (timeouts,
    /// LockTimeout) are always the provider's own <see cref="TimeProvider.CreateTimer"/>.
    /// </para>
    /// </summary>
    /// <value>Default <see cref="TimeProvider.System"/>, the one to use in production (monotonic).</value>
    public TimeProvider TimeProvider
    {
        get => _timeProvider;
        set => _timeProvider = value ?? throw new ArgumentNullException(nameof(TimeProvider));
    }

    /// <summary>Gets or sets the options used when a call passes none.</summary>
    /// <value>Default: 5 minutes fresh, adaptive early refresh, no stale window, fail-safe off, 30 s lock timeout.</value>
    public StampedeCacheEntryOptions DefaultEntryOptions
    {
        get => _defaultEntryOptions;
        set => _defaultEntryOptions = value ?? throw new ArgumentNullException(nameof(DefaultEntryOptions));
    }

    /// <summary>
    /// Gets or sets the cache's name, for a process that has several caches: measurements and <c>stampedeguard.factory</c>
    /// activities of a named cache carry it as the <c>stampedeguard.cache.name</c> tag (docs/telemetry.md). Dependency
    /// injection sets it to the name given to <c>AddStampedeGuard(name, ...)</c>. It changes no key: give caches that
    /// share a distributed tier different <see cref="KeyPrefix"/>es (the Redis tier's DI registration does that per name).
    /// </summary>
    /// <value>Default null: the unnamed cache, whose telemetry carries no name tag. Must not be empty or white space.</value>
    public string? CacheName
    {
        get => _cacheName;
        set => _cacheName = value is null || !string.IsNullOrWhiteSpace(value) ? value : throw new ArgumentException("CacheName must be null or a non-blank name.", nameof(CacheName));
    }

    /// <summary>
    /// Gets or sets a prefix for keys in the distributed tier (L2, locks, backplane), so several applications can
    /// share one Redis. The local tier is per process and stores entries under the plain key, wrapped in an internal
    /// type, so keys of other users of a shared <c>IMemoryCache</c> never collide with ours.
    /// </summary>
    /// <value>Default empty.</value>
    public string KeyPrefix
    {
        get => _keyPrefix;
        set => _keyPrefix = value ?? throw new ArgumentNullException(nameof(KeyPrefix));
    }

    /// <summary>Gets or sets the longest key accepted; longer keys throw <see cref="ArgumentException"/>.</summary>
    /// <value>Default 1024 characters.</value>
    public int MaximumKeyLength
    {
        get => _maximumKeyLength;
        set => _maximumKeyLength = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaximumKeyLength), value, "MaximumKeyLength must be positive.");
    }

    /// <summary>
    /// Gets or sets the largest serialized payload written to the distributed tier. Larger values are served and kept in
    /// L1 only (logged). It applies to the uncompressed payload: with <see cref="DistributedCompression"/> on, a value
    /// is measured before it is compressed, and a reader refuses (as a miss) a compressed payload that declares more
    /// than its own maximum, so decompression never allocates more than this.
    /// </summary>
    /// <value>Default 1 MiB.</value>
    public int MaximumPayloadBytes
    {
        get => _maximumPayloadBytes;
        set => _maximumPayloadBytes = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaximumPayloadBytes), value, "MaximumPayloadBytes must be positive.");
    }

    /// <summary>
    /// Gets or sets the codec that compresses payloads of at least <see cref="DistributedCompressionThreshold"/> bytes
    /// before they are written to the distributed tier (and carried on the backplane). The envelope records the codec,
    /// so a node reads entries of every codec of <see cref="StampedeCompression"/> whatever its own setting (a mixed
    /// fleet or a rolling upgrade works), but a node of a version without compression treats a compressed entry as a
    /// miss: upgrade every node before turning compression on. A payload that does not get smaller is stored as is.
    /// Corrupt compressed data is a miss (logged, counted in <c>stampedeguard.distributed.errors</c>), never an exception.
    /// </summary>
    /// <value>Default <see cref="StampedeCompression.None"/>.</value>
    public StampedeCompression DistributedCompression
    {
        get => _distributedCompression;
        set => _distributedCompression = value is StampedeCompression.None or StampedeCompression.Brotli or StampedeCompression.ZLib
            ? value
            : throw new ArgumentOutOfRangeException(nameof(DistributedCompression), value, "DistributedCompression must be None, Brotli or ZLib.");
    }

    /// <summary>Gets or sets the smallest serialized payload, in bytes, that <see cref="DistributedCompression"/> compresses; smaller payloads are stored as is.</summary>
    /// <value>Default 1024 bytes (1 KiB). Must not be negative.</value>
    public int DistributedCompressionThreshold
    {
        get => _distributedCompressionThreshold;
        set => _distributedCompressionThreshold = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(DistributedCompressionThreshold), value, "DistributedCompressionThreshold must not be negative.");
    }

    /// <summary>
    /// Gets or sets how hard <see cref="DistributedCompression"/> works: <see cref="CompressionLevel.Fastest"/> is Brotli
    /// quality 1 or ZLib level 1, <see cref="CompressionLevel.Optimal"/> Brotli quality 4 or ZLib level 6,
    /// <see cref="CompressionLevel.SmallestSize"/> Brotli quality 11 or ZLib level 9. Readers need not agree.
    /// </summary>
    /// <value>Default <see cref="CompressionLevel.Fastest"/> (a cache write is on a request's path).</value>
    public CompressionLevel DistributedCompressionLevel
    {
        get => _distributedCompressionLevel;
        set => _distributedCompressionLevel = value is CompressionLevel.Fastest or CompressionLevel.Optimal or CompressionLevel.SmallestSize or CompressionLevel.NoCompression
            ? value
            : throw new ArgumentOutOfRangeException(nameof(DistributedCompressionLevel), value, "DistributedCompressionLevel must be a defined CompressionLevel.");
    }

    /// <summary>
    /// Gets or sets the serializer factory for the distributed tier. Microsoft's <see cref="IHybridCacheSerializerFactory"/>
    /// is reused so serializers written for HybridCache work here.
    /// </summary>
    /// <value>Default: System.Text.Json (strings and byte arrays stored raw).</value>
    public IHybridCacheSerializerFactory? SerializerFactory { get; set; }

    /// <summary>
    /// Gets or sets the lease the distributed barrier asks for when it locks a key. If the holder dies, another node
    /// takes over after at most this long; a live holder's lease is extended by a watchdog.
    /// </summary>
    /// <value>Default 10 seconds.</value>
    public TimeSpan DistributedLockLease
    {
        get => _distributedLockLease;
        set => _distributedLockLease = Positive(nameof(DistributedLockLease), value);
    }

    /// <summary>
    /// Gets or sets the size limit, in bytes, of the private local tier (the engine's own store, used when no
    /// <c>IMemoryCache</c> is passed in). An entry is charged its serialized payload size where known (it went to the
    /// distributed tier or came from it), else 2 bytes per character of a string, the length of a byte array, or 256
    /// bytes for another value, plus about 160 bytes and the key. Over the limit the tier drops expired entries, then
    /// the entries no read found since its last pass (approximate LRU), down to 90% of the limit; a single entry larger
    /// than the limit is not kept (its value is still returned to callers). So keys taken from user input cannot
    /// exhaust memory. Expired entries are swept every minute without waiting for traffic. With your own
    /// <c>IMemoryCache</c> this option is not used: its <c>SizeLimit</c> applies, in the same byte units.
    /// </summary>
    /// <value>Default <see cref="DefaultLocalCacheSizeLimit"/> (256 MiB). Must be positive.</value>
    public long LocalCacheSizeLimit
    {
        get => _localCacheSizeLimit;
        set => _localCacheSizeLimit = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(LocalCacheSizeLimit), value, "LocalCacheSizeLimit must be positive.");
    }

    /// <summary>Gets or sets the clock of the private local tier's sweep timer (tests); <see cref="TimeProvider.System"/> when null.</summary>
    internal TimeProvider? LocalSweepTimeProvider { get; set; }

    /// <summary>Gets or sets whether distributed-tier (L2) failures reach callers. Off: failures are logged, counted and ignored.</summary>
    /// <value>Default false.</value>
    public bool ThrowOnDistributedCacheErrors { get; set; }
}
