using System.Diagnostics;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Internal;

namespace StampedeGuard.Internal;

/// <summary>
/// The local tier (L1) over an <see cref="IMemoryCache"/>: two slots per key (the hot slot under the plain key until the
/// entry's refresh point, which is what a fresh hit finds; the keep slot until the end of the fail-safe window), entry
/// sizes in bytes, and, for the private cache, a size limit, a clock that follows the engine's
/// <see cref="TimeProvider"/> monotonically, and a periodic sweep so expired entries go without waiting for traffic.
/// </summary>
internal sealed class LocalTier : IDisposable
{
    /// <summary>Bytes charged per slot for the key, our entry object and the memory cache's own entry.</summary>
    internal const int SlotOverheadBytes = 160;

    /// <summary>Bytes charged for a value whose size is not known (not serialized, not a string or byte array).</summary>
    internal const int UnknownPayloadBytes = 256;

    /// <summary>How often the private cache is swept for expired entries.</summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan ForeignClockSlack = TimeSpan.FromMinutes(10);
    private readonly IMemoryCache _cache;
    private readonly bool _owned;
    private readonly ITimer? _sweep;

    public LocalTier(IMemoryCache? userCache, TimeProvider time, long sizeLimit, TimeProvider? sweepClock)
    {
        _owned = userCache is null;
        if (userCache is null)
        {
            var cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = sizeLimit, Clock = new MonotonicClock(time) });
            _cache = cache;
            _sweep = (sweepClock ?? TimeProvider.System).CreateTimer(static state => ((MemoryCache)state!).Compact(0), cache, SweepInterval, SweepInterval);
        }
        else
        {
            _cache = userCache;
        }

        // The private cache runs on our (monotonic) clock; a user's cache expires by its own wall clock, so hits on it
        // check the entry's times against ours.
        TrustsExpiry = _owned;
    }

    /// <summary>Gets the memory cache (for tests).</summary>
    public IMemoryCache Cache => _cache;

    /// <summary>
    /// Gets whether the memory cache expires slots by the engine's own clock, so finding the hot slot means "fresh, no
    /// refresh due" without a clock read. Otherwise every hit checks the entry's times.
    /// </summary>
    public bool TrustsExpiry { get; }

    /// <summary>The hot slot of a key (what a fresh hit reads): one lookup, no allocation.</summary>
    public bool TryGetHot(string key, out object? value) => _cache.TryGetValue(key, out value);

    /// <summary>The hot slot of a key, else its keep slot.</summary>
    public object? Find(string key) =>
        _cache.TryGetValue(key, out var found) || _cache.TryGetValue(KeepSlot.Probe(key), out found) ? found : null;

    /// <summary>The keep slot of a key.</summary>
    public object? FindKept(string key) => _cache.TryGetValue(KeepSlot.Probe(key), out var found) ? found : null;

    /// <summary>
    /// Stores an entry in both slots: keep until <paramref name="keepUntil"/>, hot until <paramref name="hotUntil"/>
    /// (no hot slot when that has passed). Never overwrites an application's own value under the same key.
    /// </summary>
    public void Store(string key, object entry, long payloadBytes, long hotUntil, long keepUntil, long now)
    {
        var keep = Lifetime(keepUntil, now);
        if (keep <= TimeSpan.Zero)
        {
            Remove(key);
            return;
        }

        Put(new KeepSlot(key), entry, keep, SlotOverheadBytes + (2L * key.Length) + payloadBytes);
        if (!HotSlotIsOurs(key))
        {
            return;
        }

        var hot = Lifetime(hotUntil, now);
        if (hot > TimeSpan.Zero)
        {
            // Charged the payload too: the hot slot alone keeps the value alive if the keep slot is evicted.
            Put(key, entry, hot, SlotOverheadBytes + (2L * key.Length) + payloadBytes);
        }
        else
        {
            _cache.Remove(key);
        }
    }

    /// <summary>Puts an entry back in the hot slot only (its keep slot already holds it).</summary>
    public void StoreHot(string key, CacheEntry entry, long hotUntil, long now)
    {
        if (ReferenceEquals(FindKept(key), entry) && HotSlotIsOurs(key))
        {
            Put(key, entry, Lifetime(hotUntil, now), SlotOverheadBytes + (2L * key.Length) + entry.Bytes);
        }
    }

    /// <summary>Drops the hot slot (if it is ours) and stores an entry in the keep slot only.</summary>
    public void StoreKeptOnly(string key, object entry, long payloadBytes, long keepUntil, long now)
    {
        if (_cache.TryGetValue(key, out var hot) && hot is CacheEntry or RawEnvelope)
        {
            _cache.Remove(key);
        }

        Put(new KeepSlot(key), entry, Lifetime(keepUntil, now), SlotOverheadBytes + (2L * key.Length) + payloadBytes);
    }

    public void Remove(string key)
    {
        _cache.Remove(key);
        _cache.Remove(KeepSlot.Probe(key));
    }

    /// <summary>Time from now to an instant, capped at a century so IMemoryCache's own date arithmetic cannot overflow.</summary>
    public static TimeSpan Lifetime(long until, long now)
    {
        const long century = 36525 * TimeSpan.TicksPerDay;
        var ticks = until - now;
        return TimeSpan.FromTicks(ticks > century ? century : ticks);
    }

    /// <summary>The bytes a value takes when its serialized size is not known.</summary>
    public static long EstimateBytes<T>(T value) => value switch
    {
        null => 0,
        string s => 2L * s.Length,
        byte[] b => b.Length,
        _ => UnknownPayloadBytes,
    };

    public void Dispose()
    {
        _sweep?.Dispose();
        if (_owned)
        {
            _cache.Dispose();
        }
    }

    /// <summary>
    /// False when the application keeps its own entry under this key in a shared IMemoryCache: never overwrite it.
    /// The private cache holds nothing but ours, so it needs no lookup.
    /// </summary>
    private bool HotSlotIsOurs(string key) => _owned || !(_cache.TryGetValue(key, out var occupant) && occupant is not (CacheEntry or RawEnvelope));

    private void Put(object slot, object value, TimeSpan lifetime, long size)
    {
        using var cacheEntry = _cache.CreateEntry(slot);
        cacheEntry.Value = value;
        cacheEntry.Size = size;

        // A user's cache may expire by another clock than ours (tests): our own checks decide expiry, and the memory
        // is reclaimed with slack, so a slow run never loses an entry early.
        cacheEntry.AbsoluteExpirationRelativeToNow = TrustsExpiry ? lifetime : lifetime + ForeignClockSlack;
    }

    /// <summary>The L1 key of an entry's keep slot (the plain key is its hot slot).</summary>
    private sealed class KeepSlot(string key) : IEquatable<KeepSlot>
    {
        /// <summary>This thread's lookup key: a lookup allocates nothing (the memory cache keeps only stored keys).</summary>
        [ThreadStatic]
        private static KeepSlot? _probe;

        private string _key = key;

        /// <summary>The keep slot of <paramref name="key"/>, for a lookup only: never stored, reused by the next lookup on this thread.</summary>
        public static KeepSlot Probe(string key)
        {
            var probe = _probe ??= new KeepSlot(key);
            probe._key = key;
            return probe;
        }

        public bool Equals(KeepSlot? other) => other is not null && string.Equals(_key, other._key, StringComparison.Ordinal);

        public override bool Equals(object? obj) => Equals(obj as KeepSlot);

        // Not the plain key's hash: the hot and keep slots of one key do not share a bucket.
        public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_key) ^ 0x5BD1E995;
    }

    /// <summary>
    /// The private cache's clock: the time provider's wall clock when the cache was created, moved on by its monotonic
    /// timestamp, so a wall clock stepped back or forward does not change how long a local entry lives.
    /// </summary>
    /// <remarks>
    /// MemoryCache reads this on every lookup, so it is on the hit path: integer arithmetic only, and the system
    /// clock's timestamp read without a virtual call (measured: GetElapsedTime's double conversion made a hit ~1.7x a
    /// plain TryGetValue instead of ~1.1x).
    /// </remarks>
    private sealed class MonotonicClock : ISystemClock
    {
        private readonly TimeProvider _time;
        private readonly bool _system;
        private readonly long _anchorTicks;
        private readonly long _started;
        private readonly long _frequency;

        public MonotonicClock(TimeProvider time)
        {
            _time = time;
            _system = ReferenceEquals(time, TimeProvider.System);
            _anchorTicks = time.GetUtcNow().UtcTicks;
            _started = time.GetTimestamp();
            _frequency = time.TimestampFrequency;
        }

        public DateTimeOffset UtcNow
        {
            get
            {
                var elapsed = (_system ? Stopwatch.GetTimestamp() : _time.GetTimestamp()) - _started;
                var ticks = _frequency == TimeSpan.TicksPerSecond ? elapsed
                    : _frequency == TimeSpan.TicksPerSecond * 100 ? elapsed / 100
                    : (long)(elapsed * ((double)TimeSpan.TicksPerSecond / _frequency));
                return new DateTimeOffset(_anchorTicks + ticks, TimeSpan.Zero);
            }
        }
    }
}
