using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using StampedeGuard.Distributed;
using StampedeGuard.Redis.Internal;

namespace StampedeGuard.Redis;

/// <content>Lock primitives shared by the barrier and <see cref="RedisStampedeLock"/>.</content>
public sealed partial class RedisStampedeTier
{
    /// <summary>Tries once to take a lock. Returns the lease, or the holder's remaining lease (null when Redis could not be asked).</summary>
    internal async ValueTask<(StampedeLease? Lease, TimeSpan? HeldFor)> AcquireAsync(string name, string redisKey, TimeSpan leaseDuration, bool autoExtend, CancellationToken cancellationToken)
    {
        if (leaseDuration <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(leaseDuration), leaseDuration, "The lease must be positive.");
        }

        var token = NewToken();
        var sent = TimeProvider.GetTimestamp();
        var keys = new RedisKey[] { redisKey };
        var args = new RedisValue[] { token, Milliseconds(leaseDuration), 0 /* the deadline: set when the command is sent */ };
        var reply = await EvaluateAsync("acquire", RedisScripts.Acquire, keys, args, deadlineAt: 2, cancellationToken).ConfigureAwait(false);
        if (reply is null || reply.IsNull)
        {
            return (null, null);
        }

        var code = (long)reply;
        if (code == RedisScripts.Stale)
        {
            Log.StaleRequestRefused(Logger, "acquire");
            return (null, null);
        }

        return code == RedisScripts.Acquired
            ? (new RedisLease(this, name, redisKey, token, leaseDuration, autoExtend, sent), null)
            : (null, TimeSpan.FromMilliseconds(Math.Max(code, 1)));
    }

    /// <summary>Extends a lock the token owns: 1 extended, 0 not owned (lost), -1 Redis could not be asked.</summary>
    internal async ValueTask<long> ExtendLockAsync(string redisKey, string token, TimeSpan lease)
    {
        var keys = new RedisKey[] { redisKey };
        var args = new RedisValue[] { token, Milliseconds(lease) };
        var reply = await EvaluateAsync("extend", RedisScripts.Extend, keys, args, deadlineAt: -1, CancellationToken.None).ConfigureAwait(false);
        return reply is null || reply.IsNull ? -1 : (long)reply;
    }

    /// <summary>Releases a lock the token owns and announces it, so waiters try at once.</summary>
    internal async ValueTask ReleaseLockAsync(string redisKey, string token)
    {
        var keys = new RedisKey[] { redisKey };
        var message = Notification.Encode(Notification.Released, InstanceId, 0, TimeProvider.GetUtcNow().UtcTicks, redisKey, null);
        var args = new RedisValue[] { token, _keys.Channel, message };
        await EvaluateAsync("release", RedisScripts.Release, keys, args, deadlineAt: -1, CancellationToken.None).ConfigureAwait(false);
    }
}
