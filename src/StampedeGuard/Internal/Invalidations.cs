using System.Collections.Concurrent;

namespace StampedeGuard.Internal;

/// <summary>
/// Tag invalidations and "clear everything" (<c>RemoveByTagAsync("*")</c>), by time: an entry created before its
/// tag's invalidation is gone. An invalidation is kept only while it can still matter: for the longest lifetime
/// (KeepUntil - Created) of any tagged entry this node has stored or read, and while a run that started before it is
/// still going. Older ones are pruned (when their number doubles, or once per retention period), so distinct tags
/// from user input cannot grow memory without bound.
/// </summary>
internal sealed class Invalidations
{
    private const int MinimumPruneCount = 1024;
    private readonly ConcurrentDictionary<string, long> _tags = new(StringComparer.Ordinal);
    private long _clearedAt;
    private long _latestTagAt = long.MinValue; // the latest tag invalidation of any tag (never lowered by pruning)
    private long _longestTaggedLifetime;
    private long _pruneAtCount = MinimumPruneCount;
    private long _pruneAtTime = long.MinValue;

    /// <summary>Gets how many tag invalidations are remembered (tests).</summary>
    public int Count => _tags.Count;

    /// <summary>Notes a tagged entry's lifetime: invalidations are kept at least that long.</summary>
    public void NoteTaggedEntry(in EntryTimes times) => InterlockedMax(ref _longestTaggedLifetime, times.KeepUntil - times.Created);

    /// <summary>Records an invalidation of <paramref name="tag"/> (or of everything for <c>"*"</c>) at <paramref name="at"/>.</summary>
    /// <param name="tag">The tag.</param>
    /// <param name="at">When.</param>
    /// <param name="now">The current time.</param>
    /// <param name="oldestRunStart">When the oldest run still going started (its result is checked against invalidations since then).</param>
    public void Invalidate(string tag, long at, long now, Func<long> oldestRunStart)
    {
        if (tag == StampedeKeys.AllTag)
        {
            InterlockedMax(ref _clearedAt, at);
            return;
        }

        _tags.AddOrUpdate(tag, static (_, at) => at, static (_, old, at) => Math.Max(old, at), at);
        InterlockedMax(ref _latestTagAt, at);
        if (_tags.Count >= Volatile.Read(ref _pruneAtCount) || now >= Volatile.Read(ref _pruneAtTime))
        {
            Prune(now, oldestRunStart());
        }
    }

    public bool IsInvalidated(CacheEntry entry) => InvalidatedSince(entry.Tags, entry.Origin);

    /// <summary>
    /// Whether "everything" or one of <paramref name="tags"/> was invalidated after <paramref name="since"/> (an
    /// invalidation at the same instant is taken to come first, as in <see cref="IsInvalidated"/>).
    /// </summary>
    public bool InvalidatedSince(IReadOnlyList<string>? tags, long since)
    {
        if (Volatile.Read(ref _clearedAt) > since)
        {
            return true;
        }

        // No tag invalidated after `since` at all (the usual case on a hit): no per-tag lookup.
        if (tags is null || Volatile.Read(ref _latestTagAt) <= since)
        {
            return false;
        }

        for (var i = 0; i < tags.Count; i++)
        {
            if (_tags.TryGetValue(tags[i], out var at) && at > since)
            {
                return true;
            }
        }

        return false;
    }

    private void Prune(long now, long oldestRunStart)
    {
        var retention = Volatile.Read(ref _longestTaggedLifetime);
        var cutoff = Math.Min(now - retention, oldestRunStart);
        foreach (var (tag, at) in _tags)
        {
            if (at < cutoff)
            {
                _tags.TryRemove(new KeyValuePair<string, long>(tag, at));
            }
        }

        Volatile.Write(ref _pruneAtCount, Math.Max(MinimumPruneCount, 2L * _tags.Count));
        Volatile.Write(ref _pruneAtTime, EntryTimes.Add(now, Math.Max(retention, TimeSpan.TicksPerSecond)));
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
