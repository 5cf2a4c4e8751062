using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard.Locking;

/// <summary>Options of one lock acquisition.</summary>
public sealed class StampedeLockOptions
{
    private TimeSpan _waitTimeout = Timeout.InfiniteTimeSpan;
    private TimeSpan _leaseDuration = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how long to wait for the lock. <see cref="TimeSpan.Zero"/> tries once.</summary>
    /// <value>Default <see cref="Timeout.InfiniteTimeSpan"/> for <see cref="IStampedeLock.AcquireAsync"/>; <see cref="IStampedeLock.TryAcquireAsync"/> treats infinite as zero.</value>
    public TimeSpan WaitTimeout
    {
        get => _waitTimeout;
        set => _waitTimeout = value >= TimeSpan.Zero || value == Timeout.InfiniteTimeSpan
            ? value
            : throw new ArgumentOutOfRangeException(nameof(WaitTimeout), value, "WaitTimeout must not be negative (except Timeout.InfiniteTimeSpan).");
    }

    /// <summary>Gets or sets the lease length of a distributed lock: if the holder dies, others get the lock after this long.</summary>
    /// <value>Default 30 seconds. The in-process lock has no lease: it is held until released.</value>
    public TimeSpan LeaseDuration
    {
        get => _leaseDuration;
        set => _leaseDuration = Positive(nameof(LeaseDuration), value);
    }

    /// <summary>Gets or sets whether a watchdog extends the lease at a third of its length while it is held.</summary>
    /// <value>Default true.</value>
    public bool AutoExtend { get; set; } = true;
}
