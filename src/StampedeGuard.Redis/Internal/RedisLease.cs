using Microsoft.Extensions.Logging;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// A held Redis lock. A watchdog extends it at a third of its length (compare-and-extend in Lua); a local timer,
/// started from the moment the acquire was sent (so it fires no later than Redis expires the key), cancels
/// <see cref="LeaseLost"/> if the lease runs out unextended. An extension refused by Redis also cancels it. One attempt
/// runs at a time; a tick that comes while one is still waiting for Redis is not dropped: if that attempt ends without
/// extending (timed out, Redis unreachable), the next starts at once instead of a period later, so one slow reply costs
/// a short lease (shorter than three operation timeouts) no more than the time it took.
/// </summary>
internal sealed class RedisLease : StampedeLease
{
    private const int Held = 0;
    private const int Released = 1;
    private const int Lost = 2;

    private readonly RedisStampedeTier _tier;
    private readonly TimeProvider _time;
    private readonly TimeSpan _lease;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationToken _lostToken;
    private readonly ITimer _expiry;
    private readonly ITimer? _watchdog;
    private int _state;
    private int _extending;
    private int _tickMissed; // a watchdog tick came while an attempt was in flight
    private long _expiresAt; // GetTimestamp() at which the lease runs out unless extended

    public RedisLease(RedisStampedeTier tier, string name, string redisKey, string token, TimeSpan lease, bool autoExtend, long sentTimestamp)
    {
        _tier = tier;
        _time = tier.TimeProvider;
        Name = name;
        RedisKey = redisKey;
        Token = token;
        _lease = lease;
        _lostToken = _lost.Token;
        var left = lease - _time.GetElapsedTime(sentTimestamp);
        _expiresAt = DeadlineFrom(sentTimestamp);
        _expiry = _time.CreateTimer(static s => ((RedisLease)s!).MarkLost("expired before it could be extended"), this, left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        if (autoExtend)
        {
            var period = lease / 3 > TimeSpan.FromMilliseconds(1) ? lease / 3 : TimeSpan.FromMilliseconds(1);
            _watchdog = _time.CreateTimer(static s => ((RedisLease)s!).OnWatchdog(), this, period, period);
        }
    }

    public override string Name { get; }

    public string RedisKey { get; }

    public override string Token { get; }

    /// <summary>
    /// The lost-lease token, after checking the local deadline: a process that was paused past its lease sees it lost
    /// at the first look, before the expiry timer had a chance to run.
    /// </summary>
    public override CancellationToken LeaseLost
    {
        get
        {
            if (IsHeld && _time.GetTimestamp() >= Volatile.Read(ref _expiresAt))
            {
                MarkLost("expired before it could be extended");
            }

            return _lostToken;
        }
    }

    public bool IsHeld => Volatile.Read(ref _state) == Held;

    public override async ValueTask ReleaseAsync()
    {
        if (MarkReleased())
        {
            await _tier.ReleaseLockAsync(RedisKey, Token).ConfigureAwait(false);
        }
    }

    /// <summary>The lock was released by a fenced write: stop the timers without another round trip.</summary>
    public bool MarkReleased()
    {
        if (Interlocked.CompareExchange(ref _state, Released, Held) != Held)
        {
            return false;
        }

        StopTimers();
        return true;
    }

    public void MarkLost(string reason)
    {
        if (Interlocked.CompareExchange(ref _state, Lost, Held) != Held)
        {
            return;
        }

        StopTimers();
        _tier.Metrics.LeasesLost.Add(1);
        Log.LeaseLost(_tier.Logger, RedisKey, reason);
        try
        {
            _lost.Cancel();
        }
        catch (AggregateException ex)
        {
            Log.HandlerFailed(_tier.Logger, ex);
        }
    }

    private void OnWatchdog()
    {
        if (!IsHeld)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _extending, 1, 0) == 0)
        {
            _ = ExtendAsync();
        }
        else
        {
            Volatile.Write(ref _tickMissed, 1);
        }
    }

    private async Task ExtendAsync()
    {
        var extended = false;
        try
        {
            var sent = _time.GetTimestamp();
            var outcome = await _tier.ExtendLockAsync(RedisKey, Token, _lease).ConfigureAwait(false);
            if (outcome == 1 && IsHeld)
            {
                var left = _lease - _time.GetElapsedTime(sent);
                Volatile.Write(ref _expiresAt, DeadlineFrom(sent));
                _expiry.Change(left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
                extended = true;
                Log.LeaseExtended(_tier.Logger, RedisKey, (long)_lease.TotalMilliseconds);
            }
            else if (outcome == 0)
            {
                MarkLost("another holder owns it");
            }

            // outcome -1: Redis unreachable; the expiry timer decides if it stays that way.
        }
        catch (Exception ex)
        {
            Log.OperationFailed(_tier.Logger, "extend", ex);
        }
        finally
        {
            Volatile.Write(ref _extending, 0);
            if (Interlocked.Exchange(ref _tickMissed, 0) == 1 && !extended)
            {
                // A tick passed while this attempt waited; waiting for the next one could outlast the lease.
                OnWatchdog();
            }
        }
    }

    private long DeadlineFrom(long sentTimestamp) =>
        _lease >= TimeSpan.FromDays(365) ? long.MaxValue : sentTimestamp + (long)(_lease.TotalSeconds * _time.TimestampFrequency);

    private void StopTimers()
    {
        _watchdog?.Dispose();
        _expiry.Dispose();
    }
}
