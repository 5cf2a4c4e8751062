using StampedeGuard.Locking;
using StampedeGuard.Redis.Internal;

namespace StampedeGuard.Redis;

/// <summary>
/// A named lock shared by every process using the same Redis and key prefix, usable without the cache:
/// <code>await using var lease = await locks.AcquireAsync("nightly-report", new() { LeaseDuration = TimeSpan.FromSeconds(30) });</code>
/// <c>SET NX PX</c> with a random owner token; release and extension are Lua compare-and-act; a watchdog extends the
/// lease at a third of its length (<see cref="StampedeLockOptions.AutoExtend"/>); <see cref="StampedeLease.LeaseLost"/>
/// is cancelled when an extension is refused or the lease runs out. Waiters wake on the release notification and
/// re-check when the holder's lease would expire: no polling while Redis answers.
/// This is an efficiency lock: under a Redis failover a lease can be lost silently; see docs/redis.md.
/// </summary>
public sealed class RedisStampedeLock : IStampedeLock
{
    private readonly RedisStampedeTier _tier;

    /// <summary>Creates the lock over a tier (its connection, prefix, timeouts and notification channel).</summary>
    /// <param name="tier">The tier.</param>
    public RedisStampedeLock(RedisStampedeTier tier) => _tier = tier ?? throw new ArgumentNullException(nameof(tier));

    /// <inheritdoc />
    public async ValueTask<StampedeLease> AcquireAsync(string name, StampedeLockOptions? options = null, CancellationToken cancellationToken = default)
    {
        var timeout = options?.WaitTimeout ?? Timeout.InfiniteTimeSpan;
        return await AcquireCoreAsync(name, options, timeout, cancellationToken).ConfigureAwait(false)
            ?? throw new StampedeLockTimeoutException($"The lock '{name}' was not acquired within {timeout}.");
    }

    /// <inheritdoc />
    public ValueTask<StampedeLease?> TryAcquireAsync(string name, StampedeLockOptions? options = null, CancellationToken cancellationToken = default)
    {
        var timeout = options?.WaitTimeout ?? TimeSpan.Zero;
        return AcquireCoreAsync(name, options, timeout == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : timeout, cancellationToken);
    }

    private async ValueTask<StampedeLease?> AcquireCoreAsync(string name, StampedeLockOptions? options, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var leaseDuration = options?.LeaseDuration ?? TimeSpan.FromSeconds(30);
        var autoExtend = options?.AutoExtend ?? true;
        var redisKey = _tier.Keys.NamedLock(name);
        var time = _tier.TimeProvider;
        var waits = _tier.Waits;
        var slot = timeout == TimeSpan.Zero ? null : waits.Enter(redisKey);
        try
        {
            var started = time.GetTimestamp();
            while (true)
            {
                var baseline = waits.Sequence;
                var (lease, heldFor) = await _tier.AcquireAsync(name, redisKey, leaseDuration, autoExtend, cancellationToken).ConfigureAwait(false);
                if (lease is not null || slot is null)
                {
                    return lease;
                }

                var left = timeout == Timeout.InfiniteTimeSpan ? TimeSpan.MaxValue : timeout - time.GetElapsedTime(started);
                if (left <= TimeSpan.Zero)
                {
                    return null;
                }

                // Wake on the release notification, or when the holder's lease would run out; with Redis unreachable, retry later.
                var pause = heldFor ?? _tier.Options.LockRetryInterval;
                pause = pause < left ? pause : left;
                if (!waits.Check(slot, baseline, out _, out _, out var next))
                {
                    try
                    {
                        await next.WaitAsync(pause, time, cancellationToken).ConfigureAwait(false);
                    }
                    catch (TimeoutException)
                    {
                    }
                }
            }
        }
        finally
        {
            if (slot is not null)
            {
                waits.Exit(slot);
            }
        }
    }
}
