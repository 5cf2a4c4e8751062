using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Primitives;

namespace StampedeGuard.Internal;

/// <summary>
/// The local tier (L1): one slot per key, holding one <see cref="LocalEntry"/> that carries its own expiry and size.
/// <list type="bullet">
/// <item>Private (no <see cref="IMemoryCache"/> given): a concurrent dictionary of our entries, bounded by
/// LocalCacheSizeLimit in bytes (approximate LRU: CLOCK, a reference bit set by reads), swept for expired entries every
/// minute. A hit is one lookup; it writes nothing shared (the reference bit only when it is clear).</item>
/// <item>Shared (the application's <see cref="IMemoryCache"/>): each entry under its plain key (the memory cache's
/// fast path for string keys), or under a key object of ours when the application keeps an entry of its own under
/// that key (never read as ours, never overwritten); sized in bytes for the cache's SizeLimit; expired by our clock.
/// The memory cache reclaims the memory soon after the entry's end: when both run on the system clock, by an absolute
/// expiration at that end (nothing added to a hit); otherwise by an expiration token that asks the engine's clock
/// whenever the memory cache looks at the entry (its lookups, expiration scans and compactions), so a cache on another
/// clock never drops an entry early nor keeps it long.</item>
/// </list>
/// The engine decides freshness from the entry's times; the tier only answers "is there a local copy still alive".
/// </summary>
internal sealed class LocalTier : IDisposable
{
    /// <summary>Bytes charged per entry for the key object, the dictionary node and our entry object.</summary>
    internal const int SlotOverheadBytes = 160;

    /// <summary>Bytes charged for a value whose size is not known (not serialized, not a string or byte array).</summary>
    internal const int UnknownPayloadBytes = 256;

    /// <summary>How often the private cache is swept for expired entries.</summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// MemoryCache's options (its clock), read once per tier; null if a later MemoryCache renames the field. Trim-safe: a
    /// constant name on a known type, which the trimmer and the AOT compiler see and keep; when the field is not there
    /// (or reflection refuses it) the tier takes the token path, correct on any clock.
    /// </summary>
    private static readonly FieldInfo? MemoryCacheOptionsField = typeof(MemoryCache).GetField("_options", BindingFlags.NonPublic | BindingFlags.Instance);

    private readonly ConcurrentDictionary<string, LocalEntry>? _entries;
    private readonly IMemoryCache? _shared;
    private readonly bool _sharedOnSystemClocks; // the engine and the shared cache both on the system clock
    private long _generation; // counts Clear calls; over a shared cache, entries of an older generation were cleared
    private readonly Func<long> _now;
    private readonly long _sizeLimit;
    private readonly Lock _compacting = new();
    private readonly ITimer? _sweep;
    private IEnumerator<KeyValuePair<string, LocalEntry>>? _hand; // the CLOCK hand; guarded by _compacting
    private long _size;

    /// <summary>Creates the tier over <paramref name="sharedCache"/>, or a private one when it is null.</summary>
    /// <param name="sharedCache">The application's memory cache, or null.</param>
    /// <param name="now">The engine's clock (ticks).</param>
    /// <param name="sizeLimit">The private tier's size limit in bytes.</param>
    /// <param name="sweepClock">Runs the private tier's sweep timer.</param>
    /// <param name="systemClock">Whether the engine runs on <see cref="TimeProvider.System"/>.</param>
    public LocalTier(IMemoryCache? sharedCache, Func<long> now, long sizeLimit, TimeProvider sweepClock, bool systemClock = false)
    {
        _now = now;
        _sizeLimit = sizeLimit;
        if (sharedCache is null)
        {
            _entries = new ConcurrentDictionary<string, LocalEntry>();
            _sweep = sweepClock.CreateTimer(static state => ((LocalTier)state!).RemoveExpired(), this, SweepInterval, SweepInterval);
        }
        else
        {
            _shared = sharedCache;
            _sharedOnSystemClocks = systemClock && RunsOnSystemClock(sharedCache);
        }
    }

    /// <summary>Gets whether the shared cache expires our entries itself (both on the system clock) rather than by asking our clock.</summary>
    internal bool SharedExpiresOnItsOwnClock => _sharedOnSystemClocks;

    /// <summary>Gets how many entries the private tier holds (0 over a shared cache).</summary>
    public int Count => _entries?.Count ?? 0;

    /// <summary>Gets the bytes the private tier holds.</summary>
    public long Size => Volatile.Read(ref _size);

    /// <summary>Marks a store that does not depend on what the tier held before (see <see cref="Generation"/>).</summary>
    public const long AnyGeneration = -1;

    /// <summary>
    /// Gets how many times the tier was cleared. A store of something learned before a clear passes the generation
    /// seen then and is refused (or undone) if a clear came since: the clear also dropped the newer states and
    /// tombstones that would have refused it, so an older value could otherwise come back.
    /// </summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>The entry under a key, alive or not (the hit path: one lookup, no allocation, no clock read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGet(string key, [NotNullWhen(true)] out LocalEntry? entry)
    {
        if (_entries is { } entries)
        {
            if (entries.TryGetValue(key, out entry))
            {
                if (!entry.Referenced)
                {
                    entry.Referenced = true;
                }

                return true;
            }

            return false;
        }

        return TryGetShared(key, out entry);
    }

    /// <summary>The entry under a key if its local copy is still alive at <paramref name="now"/>; a dead one is dropped.</summary>
    public LocalEntry? Find(string key, long now)
    {
        if (!TryGet(key, out var entry))
        {
            return null;
        }

        if (now < entry.ExpiresAt)
        {
            return entry;
        }

        RemoveEntry(key, entry);
        return null;
    }

    /// <summary>
    /// Stores an entry until <paramref name="expiresAt"/> (nothing, and the key's old entry gone, when that has passed),
    /// charged its key, our overhead and <paramref name="payloadBytes"/>. A private tier over its size limit evicts.
    /// Every store is of a new entry object (a changed entry is a copy: see <see cref="CacheEntry.WithTimes"/>), so
    /// the charge an entry carries is the one the tier gives back when it goes.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="entry">The new entry object.</param>
    /// <param name="payloadBytes">The payload's size.</param>
    /// <param name="expiresAt">When the local copy ends (engine ticks).</param>
    /// <param name="now">The engine's time.</param>
    /// <param name="generation">The <see cref="Generation"/> the entry's information was learned in, or <see cref="AnyGeneration"/>.</param>
    public void Store(string key, LocalEntry entry, long payloadBytes, long expiresAt, long now, long generation = AnyGeneration)
    {
        if (generation == AnyGeneration)
        {
            StoreCore(key, entry, payloadBytes, expiresAt, now);
            return;
        }

        if (Volatile.Read(ref _generation) != generation)
        {
            return; // cleared since: what refused an older state is gone with it
        }

        StoreCore(key, entry, payloadBytes, expiresAt, now);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _generation) != generation)
        {
            RemoveEntry(key, entry); // a clear ran while it was stored
        }
    }

    private void StoreCore(string key, LocalEntry entry, long payloadBytes, long expiresAt, long now)
    {
        var charged = SlotOverheadBytes + (2L * key.Length) + payloadBytes;
        if (entry.Version != 0 && TryGet(key, out var current) && IsNewerState(current, entry, now))
        {
            return;
        }

        if (expiresAt <= now || (_entries is not null && charged > _sizeLimit))
        {
            // Dead on arrival, or larger than the whole tier: keep nothing (not the key's older entry either).
            Remove(key);
            return;
        }

        entry.ExpiresAt = expiresAt;
        if (_entries is not { } entries)
        {
            StoreShared(key, entry, charged, expiresAt - now);
            return;
        }

        Debug.Assert(entry.Charged == 0, "an entry object is stored once");
        entry.Charged = charged;
        entry.Referenced = false; // earns its place by being read: a flood of one-time keys goes before a hot key
        if (entries.TryAdd(key, entry))
        {
            Interlocked.Add(ref _size, charged); // the usual case: a miss stores a key that has no entry
        }
        else
        {
            Replace(entries, key, entry, charged, now);
        }

        if (Volatile.Read(ref _size) > _sizeLimit)
        {
            Compact(entry);
        }
    }

    /// <summary>
    /// Whether <paramref name="current"/>, still alive at <paramref name="now"/>, reflects a later version of the key than
    /// <paramref name="entry"/> (a newer write, removal or expiry): then the older state is not stored over it.
    /// Unversioned entries (version 0: a cache without a versioned store) never block.
    /// </summary>
    private static bool IsNewerState(LocalEntry current, LocalEntry entry, long now) =>
        entry.Version != 0 && current.Version > entry.Version && now < current.ExpiresAt;

    private void Replace(ConcurrentDictionary<string, LocalEntry> entries, string key, LocalEntry entry, long charged, long now)
    {
        while (true)
        {
            if (entries.TryGetValue(key, out var old))
            {
                if (IsNewerState(old, entry, now))
                {
                    return; // a newer state won the race since the check in Store
                }

                if (entries.TryUpdate(key, entry, old))
                {
                    Interlocked.Add(ref _size, charged - old.Charged);
                    return;
                }
            }
            else if (entries.TryAdd(key, entry))
            {
                Interlocked.Add(ref _size, charged);
                return;
            }
        }
    }

    public void Remove(string key)
    {
        if (_entries is { } entries)
        {
            if (entries.TryRemove(key, out var old))
            {
                Interlocked.Add(ref _size, -old.Charged);
            }
        }
        else
        {
            if (_shared!.TryGetValue(key, out var occupant) && occupant is LocalEntry)
            {
                _shared.Remove(key);
            }

            _shared.Remove(Slot.Probe(key));
        }
    }

    /// <summary>Drops every entry (the node may have missed invalidations: it reads the store again).</summary>
    public void Clear()
    {
        // First: a store of something learned before now is refused or undone from here on. Over a shared cache (which
        // cannot be enumerated for our entries alone) entries of an older generation no longer count.
        Interlocked.Increment(ref _generation);
        if (_entries is { } entries)
        {
            foreach (var (key, _) in entries)
            {
                Remove(key);
            }
        }
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
        _entries?.Clear();
    }

    /// <summary>Drops the private tier's expired entries (the sweep timer).</summary>
    internal void RemoveExpired()
    {
        var now = _now();
        foreach (var (key, entry) in _entries!)
        {
            if (now >= entry.ExpiresAt)
            {
                RemoveEntry(key, entry);
            }
        }
    }

    /// <summary>
    /// Over the size limit: a CLOCK hand goes on from where the last compaction stopped, dropping expired entries and
    /// entries no read found since it last passed, and clearing the reference bit of the others, until the tier is a
    /// tenth under its limit (so one compaction frees room for many stores, and each visits about two entries per
    /// entry it drops). The entry whose store triggered it is spared: its readers are about to come. One compaction
    /// at a time; a store that meets one in progress does not wait for it.
    /// </summary>
    private void Compact(LocalEntry justStored)
    {
        if (!_compacting.TryEnter())
        {
            return;
        }

        try
        {
            var now = _now();
            var target = _sizeLimit - (_sizeLimit / 10);
            var turns = 0;
            while (Volatile.Read(ref _size) > target)
            {
                if (_hand is null || !_hand.MoveNext())
                {
                    // A new turn of the clock. Two full turns always free enough (the first clears every bit, the
                    // second drops what was not read since); a third only when readers outran the hand.
                    _hand?.Dispose();
                    _hand = _entries!.GetEnumerator();
                    if (++turns > 3 || !_hand.MoveNext())
                    {
                        break;
                    }
                }

                var (key, entry) = _hand.Current;
                if (now >= entry.ExpiresAt)
                {
                    RemoveEntry(key, entry);
                }
                else if (entry.Referenced)
                {
                    entry.Referenced = false;
                }
                else if (!ReferenceEquals(entry, justStored))
                {
                    RemoveEntry(key, entry);
                }
            }
        }
        finally
        {
            _compacting.Exit();
        }
    }

    /// <summary>Removes <paramref name="entry"/> if it is still the key's entry (a newer one is left alone).</summary>
    private void RemoveEntry(string key, LocalEntry entry)
    {
        if (_entries is { } entries)
        {
            if (entries.TryRemove(new KeyValuePair<string, LocalEntry>(key, entry)))
            {
                Interlocked.Add(ref _size, -entry.Charged);
            }
        }
        else if (_shared!.TryGetValue(key, out var current) && ReferenceEquals(current, entry))
        {
            _shared.Remove(key);
        }
        else if (_shared.TryGetValue(Slot.Probe(key), out current) && ReferenceEquals(current, entry))
        {
            _shared.Remove(Slot.Probe(key));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryGetShared(string key, [NotNullWhen(true)] out LocalEntry? entry)
    {
        if (!_shared!.TryGetValue(key, out var found))
        {
            entry = null;
            return false;
        }

        // The application's own entry under this key: ours, if any, is under our key object.
        entry = found as LocalEntry ?? (_shared.TryGetValue(Slot.Probe(key), out found) ? found as LocalEntry : null);
        if (entry is not null && entry.Generation != Volatile.Read(ref _generation))
        {
            entry = null; // stored before the last Clear
        }

        return entry is not null;
    }

    private void StoreShared(string key, LocalEntry entry, long charged, long lifetimeTicks)
    {
        // Our own checks decide expiry; the memory cache is told when to reclaim the memory.
        object slot = _shared!.TryGetValue(key, out var occupant) && occupant is not LocalEntry ? new Slot(key) : key;
        entry.Generation = Volatile.Read(ref _generation);
        using var cacheEntry = _shared.CreateEntry(slot);
        cacheEntry.Value = entry;
        cacheEntry.Size = charged;
        if (_sharedOnSystemClocks)
        {
            // Both on the system clock: the memory cache's own expiry, at the entry's end (a hit costs nothing more). A
            // thousandth of the lifetime more covers the wall clock being slewed against the engine's monotonic one (NTP
            // slews by at most 500 ppm); a wall clock stepped forward may drop a copy early: the next call reads it again.
            var lifetime = EntryTimes.Lifetime(lifetimeTicks, 0);
            cacheEntry.AbsoluteExpirationRelativeToNow = lifetime + (lifetime / 1000);
        }
        else
        {
            // Another clock (a test clock on either side, or a cache whose clock we cannot see): no expiry on the cache's
            // clock, which could drop the entry early or keep it long; the cache asks ours each time it looks at it.
            cacheEntry.ExpirationTokens.Add(new EndOnEngineClock(_now, entry));
        }
    }

    /// <summary>
    /// Whether a shared cache expires entries by the system's wall clock: a <see cref="MemoryCache"/> without a clock of
    /// its own (<c>MemoryCacheOptions.Clock</c> null, or Microsoft's <c>SystemClock</c>). Not assumed of any other cache,
    /// nor of a MemoryCache whose options cannot be read (their entries then end on the engine's clock, by token).
    /// </summary>
    internal static bool RunsOnSystemClock(IMemoryCache cache)
    {
        if (cache is not MemoryCache memoryCache || MemoryCacheOptionsField is null)
        {
            return false;
        }

        try
        {
#pragma warning disable CS0618 // MemoryCacheOptions.Clock and SystemClock: how MemoryCache is given a clock.
            return MemoryCacheOptionsField.GetValue(memoryCache) is MemoryCacheOptions options
                && (options.Clock is null || options.Clock.GetType() == typeof(Microsoft.Extensions.Internal.SystemClock));
#pragma warning restore CS0618
        }
        catch (Exception)
        {
            return false; // reflection refused (a trimmed or changed MemoryCache): the token path is always correct.
        }
    }

    /// <summary>
    /// An expiration token a memory cache polls (no callbacks: nothing registered per entry): changed once the engine's
    /// clock reaches the entry's end, so the cache drops the entry on its next lookup, scan or compaction.
    /// </summary>
    private sealed class EndOnEngineClock(Func<long> now, LocalEntry entry) : IChangeToken
    {
        public bool HasChanged => now() >= entry.ExpiresAt;

        public bool ActiveChangeCallbacks => false;

        public IDisposable RegisterChangeCallback(Action<object?> callback, object? state) => NoRegistration.Instance;

        private sealed class NoRegistration : IDisposable
        {
            public static readonly NoRegistration Instance = new();

            public void Dispose()
            {
            }
        }
    }

    /// <summary>The key of our entry in a shared memory cache where the application keeps its own under the plain key.</summary>
    private sealed class Slot(string key) : IEquatable<Slot>
    {
        /// <summary>This thread's lookup key: a lookup allocates nothing (the memory cache keeps only stored keys).</summary>
        [ThreadStatic]
        private static Slot? _probe;

        private string _key = key;

        /// <summary>The slot of <paramref name="key"/>, for a lookup only: never stored, reused by the next lookup on this thread.</summary>
        public static Slot Probe(string key)
        {
            var probe = _probe ??= new Slot(key);
            probe._key = key;
            return probe;
        }

        public bool Equals(Slot? other) => other is not null && string.Equals(_key, other._key, StringComparison.Ordinal);

        public override bool Equals(object? obj) => Equals(obj as Slot);

        public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_key) ^ 0x5BD1E995;

        public override string ToString() => _key;
    }
}
