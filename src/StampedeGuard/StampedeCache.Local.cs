using System.Runtime.ExceptionServices;
using StampedeGuard.Internal;

namespace StampedeGuard;

/// <summary>The local tier (L1) as the pipeline sees it: typed reads, stores with LocalDuration, expiry, new entries.</summary>
public sealed partial class StampedeCache
{
    /// <summary>
    /// The L1 entry of a key as a <typeparamref name="T"/> (hot slot, else keep slot), decoding one delivered raw by
    /// the backplane; null if absent or invalidated.
    /// </summary>
    private CacheEntry<T>? GetLocal<T>(string key, StampedeCacheEntryOptions options)
    {
        var found = options.SkipLocalCacheRead ? null : _local.Find(key);
        if (found is null)
        {
            return null;
        }

        if (found is RawEnvelope raw)
        {
            var decoded = Decode<T>(key, raw.Bytes, options);
            if (decoded is not null)
            {
                SetLocal(key, decoded, options);
            }

            return decoded;
        }

        return found is CacheEntry<T> entry && !IsInvalidated(entry) && (_local.TrustsExpiry || Now() < entry.LocalUntil) ? entry : null;
    }

    /// <summary>
    /// Stores an entry in L1's two slots: the hot slot until the entry's refresh point (what a hit finds), and the
    /// keep slot until the end of its fail-safe window (stale serving, fail-safe, soft timeouts); both end at
    /// LocalDuration if set.
    /// </summary>
    private void SetLocal(string key, CacheEntry entry, StampedeCacheEntryOptions options)
    {
        if (options.SkipLocalCacheWrite)
        {
            return;
        }

        var now = Now();
        var keepUntil = entry.Times.KeepUntil;
        var hotUntil = entry.HotUntil;
        if (options.LocalDuration is { } local)
        {
            entry.LocalUntil = EntryTimes.Add(now, local.Ticks);
            keepUntil = Math.Min(keepUntil, entry.LocalUntil);
            hotUntil = Math.Min(hotUntil, entry.LocalUntil);
        }

        _local.Store(key, entry, entry.Bytes, hotUntil, keepUntil, now);
    }

    private void ExpireLocal(string key, long now)
    {
        var found = _local.FindKept(key) ?? _local.Find(key);
        if (found is CacheEntry entry)
        {
            if (now < entry.Times.FreshUntil)
            {
                var expired = entry.WithTimes(Expired(entry.Times, now));
                expired.LocalUntil = entry.LocalUntil;
                _local.StoreKeptOnly(key, expired, expired.Bytes, Math.Max(expired.Times.KeepUntil, now + 1), now);
            }
        }
        else if (found is not null)
        {
            _local.Remove(key);
        }
    }

    /// <summary>Expired now, but still servable as stale until at least its original fresh end: the next read refreshes once.</summary>
    private static EntryTimes Expired(in EntryTimes times, long now) =>
        times with { FreshUntil = now, StaleUntil = Math.Max(times.StaleUntil, times.FreshUntil), KeepUntil = Math.Max(times.KeepUntil, times.FreshUntil) };

    private CacheEntry<T> NewEntry<T>(T value, ExceptionDispatchInfo? error, in EntryTimes times, StampedeCacheEntryOptions options, long previousFactoryTicks)
    {
        var tags = options.Tags is { Count: > 0 } list ? [.. list] : (string[]?)null;
        if (tags is not null)
        {
            _invalidations.NoteTaggedEntry(times);
        }

        return new CacheEntry<T>(value, error, times, tags, CacheEntry.ComputeRefreshCheckAt(times, previousFactoryTicks, options.EarlyRefresh, options.EarlyRefreshBeta), options.EarlyRefresh, options.EarlyRefreshBeta);
    }

    private StampedeFactoryContext<T> NewContext<T>(string key, StampedeCacheEntryOptions options, CacheEntry<T>? stale, StampedeLease? lease) =>
        new(key, options, stale is not null, stale is null ? default : stale.Value, stale is null ? null : TimeSpan.FromTicks(Now() - stale.Times.Created), lease);
}
