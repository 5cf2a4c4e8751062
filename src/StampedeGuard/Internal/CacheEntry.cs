using System.Runtime.ExceptionServices;

namespace StampedeGuard.Internal;

/// <summary>
/// What the local tier (L1) stores under a key: the value and its timeline, immutable except for the flag that
/// makes early refresh happen once. Wrapping values in our own type keeps other users of a shared IMemoryCache apart.
/// </summary>
internal abstract class CacheEntry : LocalEntry
{
    private const int RefreshStarted = 1;
    private const int StaleRefreshStarted = 2;
    private readonly float _beta;
    private readonly StampedeEarlyRefresh _mode;
    private int _claims;

    protected CacheEntry(in EntryTimes times, string[]? tags, long refreshCheckAt, StampedeEarlyRefresh mode, double beta)
    {
        Times = times;
        Origin = times.Created;
        Tags = tags;
        RefreshCheckAt = refreshCheckAt;
        _mode = mode;
        _beta = (float)beta;
    }

    public EntryTimes Times { get; }

    /// <summary>
    /// Gets when the value's run began (the read it was computed after, or its explicit write) on the clock
    /// invalidations are ordered by: the store's where there is one. An invalidation of one of its tags (or of
    /// everything) at or after this instant makes the entry invalid. Defaults to <see cref="EntryTimes.Created"/>.
    /// </summary>
    public long Origin { get; init; }

    /// <summary>
    /// Until when a hit needs no check but the clock: the earlier of the refresh point and the end of freshness, or
    /// the end of freshness once the early refresh is claimed (nothing is left to decide until then).
    /// </summary>
    public long HotUntil => IsRefreshClaimed ? Times.FreshUntil : Math.Min(RefreshCheckAt, Times.FreshUntil);

    /// <summary>
    /// Gets or sets until when a read is a plain fresh hit, on the engine's hit clock (so a hit compares one cheap
    /// clock read, no conversion): <see cref="HotUntil"/> capped by the local copy's end, set when the entry is stored
    /// locally and again once its early refresh is claimed.
    /// </summary>
    public long HitDeadline { get; set; } = long.MinValue;

    /// <summary>Gets or sets whether this is a fail-safe value served past its real freshness (throttled).</summary>
    public bool IsFailSafe { get; init; }

    public string[]? Tags { get; }

    /// <summary>Gets or sets the serialized payload size in bytes, or -1 when the value was never serialized.</summary>
    public int PayloadBytes { get; set; } = -1;

    /// <summary>Gets the bytes this entry's value is charged in L1: the payload size where known, else an estimate.</summary>
    public abstract long Bytes { get; }

    /// <summary>From this instant on, a fresh hit evaluates early refresh. <see cref="long.MaxValue"/> when off.</summary>
    public long RefreshCheckAt { get; }

    public StampedeEarlyRefresh Mode => _mode;

    /// <summary>Gets the early-refresh beta (kept as a float: a tuning factor needs no more, and the entry stays small).</summary>
    public double Beta => _beta;

    /// <summary>Gets whether a refresh of this entry was already started (a cheap read before any random draw).</summary>
    public bool IsRefreshClaimed => (Volatile.Read(ref _claims) & RefreshStarted) != 0;

    /// <summary>Claims the one early refresh of this entry; false if already claimed. A failed early refresh keeps it (no retry while fresh).</summary>
    public bool TryClaimRefresh() => (Interlocked.Or(ref _claims, RefreshStarted) & RefreshStarted) == 0;

    /// <summary>Claims the one stale-window refresh running at a time; released when it fails so a later stale hit tries again.</summary>
    public bool TryClaimStaleRefresh() => (Interlocked.Or(ref _claims, StaleRefreshStarted) & StaleRefreshStarted) == 0;

    public void ReleaseStaleRefreshClaim() => Interlocked.And(ref _claims, ~StaleRefreshStarted);

    /// <summary>The same value with another timeline (expire, fail-safe throttle).</summary>
    public abstract CacheEntry WithTimes(in EntryTimes times);

    /// <summary>
    /// When to start evaluating early refresh. Adaptive: the lead is the measured factory time (plus its latest
    /// growth and a quarter for jitter) scaled by beta, so the refresh completes just before expiry.
    /// <paramref name="previousFactoryTicks"/> is the run before's duration, or -1 when there was none.
    /// XFetch: the earliest instant at which <c>-delta * beta * ln(u)</c> can reach expiry for a double u in (0, 1]
    /// (-ln(2^-53) &lt; 37), so a hit far from expiry draws no random number and takes no logarithm.
    /// </summary>
    public static long ComputeRefreshCheckAt(in EntryTimes times, long previousFactoryTicks, StampedeEarlyRefresh mode, double beta)
    {
        if (beta <= 0)
        {
            return long.MaxValue;
        }

        var delta = times.FactoryTicks;

        // Growth: how much slower the factory got since the run before. With no earlier run (previousFactoryTicks < 0,
        // a cold start) assume it may grow by three quarters, so the first refresh is not late.
        var growth = previousFactoryTicks < 0 ? delta * 0.75 : Math.Max(0, delta - previousFactoryTicks);
        double lead = mode == StampedeEarlyRefresh.XFetch
            ? delta * beta * 37.0
            : (beta * ((delta * 1.25) + growth)) + TimeSpan.TicksPerMillisecond * 5;
        return times.FreshUntil - (long)Math.Min(lead, Math.Max(0, times.FreshUntil - times.Created));
    }

    /// <summary>Whether a fresh hit at <paramref name="now"/> (past <see cref="RefreshCheckAt"/>) should refresh now.</summary>
    public bool ShouldRefreshEarly(long now)
    {
        if (Mode == StampedeEarlyRefresh.Adaptive)
        {
            return true;
        }

        // Classic XFetch: now - delta * beta * ln(u) >= freshUntil, u in (0, 1].
        var u = 1.0 - Random.Shared.NextDouble();
        return now - (Times.FactoryTicks * Beta * Math.Log(u)) >= Times.FreshUntil;
    }
}

/// <summary>A typed L1 entry: a value, or (negative caching) the exception a factory threw.</summary>
/// <typeparam name="T">The value type.</typeparam>
internal sealed class CacheEntry<T> : CacheEntry
{
    public CacheEntry(T value, ExceptionDispatchInfo? error, in EntryTimes times, string[]? tags, long refreshCheckAt, StampedeEarlyRefresh mode, double beta)
        : base(times, tags, refreshCheckAt, mode, beta)
    {
        Value = value;
        Error = error;
    }

    public T Value { get; }

    public ExceptionDispatchInfo? Error { get; }

    public override long Bytes => PayloadBytes >= 0 ? PayloadBytes : LocalTier.EstimateBytes(Value);

    public override CacheEntry WithTimes(in EntryTimes times) =>
        new CacheEntry<T>(Value, Error, times, Tags, ComputeRefreshCheckAt(times, times.FactoryTicks, Mode, Beta), Mode, Beta) { IsFailSafe = IsFailSafe, PayloadBytes = PayloadBytes, Origin = Origin };
}
