using System.Runtime.ExceptionServices;
using StampedeGuard.Internal;

namespace StampedeGuard;

/// <summary>The local tier (L1) as the pipeline sees it: typed reads, stores with LocalDuration, expiry, new entries.</summary>
public sealed partial class StampedeCache
{
    /// <summary>
    /// The L1 entry of a key as a <typeparamref name="T"/> while its local copy lives, decoding one delivered raw by the
    /// backplane; null if absent, ended or invalidated.
    /// </summary>
    private CacheEntry<T>? GetLocal<T>(string key, StampedeCacheEntryOptions options, long now)
    {
        DistrustLocalIfSilent();

        var generation = _local.Generation;
        var found = options.SkipLocalCacheRead ? null : _local.Find(key, now);
        if (found is RawEnvelope raw)
        {
            var decoded = _distributed.Decode<T>(key, raw.Bytes, options, raw.Version, expired: false);
            if (decoded is not null)
            {
                SetLocal(key, decoded, options, now, generation);
            }

            return decoded;
        }

        return found is CacheEntry<T> entry && !IsInvalidated(entry) ? entry : null;
    }

    /// <summary>
    /// Stores an entry in L1 until the end of its fail-safe window (stale serving, fail-safe, soft timeouts), or of
    /// LocalDuration if that is set and earlier.
    /// </summary>
    private void SetLocal(string key, CacheEntry entry, StampedeCacheEntryOptions options) => SetLocal(key, entry, options, Now());

    /// <summary>
    /// Stores an entry in L1 (see <see cref="SetLocal(string, CacheEntry, StampedeCacheEntryOptions)"/>) unless the tier
    /// was cleared since <paramref name="generation"/>, when what the entry was learned from was current (a clear drops
    /// the newer states that would have refused it: messages may have been lost, so it may be older than the store's).
    /// </summary>
    private void SetLocal(string key, CacheEntry entry, StampedeCacheEntryOptions options, long now, long generation = LocalTier.AnyGeneration)
    {
        if (options.SkipLocalCacheWrite)
        {
            return;
        }

        var expiresAt = entry.Times.KeepUntil;
        if (options.LocalDuration is { } local)
        {
            expiresAt = Math.Min(expiresAt, EntryTimes.Add(now, local.Ticks));
        }

        StoreLocal(key, entry, expiresAt, now, generation);
    }

    /// <summary>Stores an entry in L1 until <paramref name="expiresAt"/>: a read is a plain hit until its refresh point (or that end).</summary>
    private void StoreLocal(string key, CacheEntry entry, long expiresAt, long now, long generation = LocalTier.AnyGeneration)
    {
        SetHitDeadline(entry, expiresAt);
        _local.Store(key, entry, entry.Bytes, expiresAt, now, generation);
    }

    /// <summary>Until when a read of <paramref name="entry"/> is a plain hit: its <see cref="CacheEntry.HotUntil"/>, capped by the local copy's end.</summary>
    private void SetHitDeadline(CacheEntry entry, long expiresAt) => entry.HitDeadline = HitDeadlineFor(Math.Min(entry.HotUntil, expiresAt));

    /// <summary>
    /// Marks the key's local copy stale from this node's now (never from another node's clock) when the expiry has no
    /// version; with one, unless the copy already reflects <paramref name="version"/> or later, leaves a tombstone
    /// instead (the next read takes the expired value from the store, stale), so an older write delivered late cannot
    /// bring a fresh value back, and an older copy is never served as the expired value.
    /// </summary>
    private void ExpireLocal(string key, long version)
    {
        var now = Now();
        var generation = _local.Generation;
        var found = _local.Find(key, now);
        if (found is not null && version != 0 && found.Version >= version)
        {
            return;
        }

        if (found is CacheEntry entry && version == 0)
        {
            // Same local lifetime (its LocalDuration too); stale from now on, so no read is a plain hit. Only without a
            // version: a versioned expiry may be of a newer value than the one held here (a set whose message, or whose
            // own local write, has not arrived yet), and labelling the held value with the expiry's version would refuse
            // that newer value and serve the older one as stale. Then a tombstone: the next read asks the store.
            var expired = entry.WithTimes(now < entry.Times.FreshUntil ? Expired(entry.Times, now) : entry.Times);
            expired.Version = entry.Version;
            StoreLocal(key, expired, entry.ExpiresAt, now, generation);
        }
        else if (found is not null || version != 0)
        {
            StoreTombstone(key, version, now);
        }
    }

    /// <summary>Expired now, but still servable as stale until at least its original fresh end: the next read refreshes once.</summary>
    private static EntryTimes Expired(in EntryTimes times, long now) =>
        times with { FreshUntil = now, StaleUntil = Math.Max(times.StaleUntil, times.FreshUntil), KeepUntil = Math.Max(times.KeepUntil, times.FreshUntil) };

    private CacheEntry<T> NewEntry<T>(T value, ExceptionDispatchInfo? error, in EntryTimes times, StampedeCacheEntryOptions options, long previousFactoryTicks, long origin = 0)
    {
        var tags = options.Tags is { Count: > 0 } list ? [.. list] : (string[]?)null;
        if (tags is not null)
        {
            _invalidations.NoteTaggedEntry(times);
        }

        return new CacheEntry<T>(value, error, times, tags, CacheEntry.ComputeRefreshCheckAt(times, previousFactoryTicks, options.EarlyRefresh, options.EarlyRefreshBeta), options.EarlyRefresh, options.EarlyRefreshBeta)
        {
            Origin = origin != 0 ? origin : times.Created + _distributed.StampOffset,
        };
    }

    private StampedeFactoryContext<T> NewContext<T>(string key, StampedeCacheEntryOptions options, CacheEntry<T>? stale, StampedeLease? lease) =>
        new(key, options, stale is not null, stale is null ? default : stale.Value, stale is null ? null : TimeSpan.FromTicks(Now() - stale.Times.Created), lease);
}
