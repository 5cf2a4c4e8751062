using StackExchange.Redis;
using StampedeGuard.Distributed;
using StampedeGuard.Redis.Internal;

namespace StampedeGuard.Redis;

/// <content>
/// The read path: a plain <c>HMGET</c> first (no script), which answers a value fresh at the reader's now with its
/// version; only what it cannot answer (no value, stale, expired, not ours, a lock to take, a clock asked for) goes to
/// the read-or-acquire script.
/// </content>
public sealed partial class RedisStampedeTier
{
    /// <summary>What the plain read returns for a value of another Redis type (WRONGTYPE): the script then flags it corrupt.</summary>
    private static readonly RedisValue[] WrongType = [];

    /// <inheritdoc />
    /// <remarks>
    /// Unless <see cref="DistributedReadOptions.RequireStamp"/> is set, a value fresh at
    /// <see cref="DistributedReadOptions.Now"/> is answered by one plain <c>HMGET</c> of its hash (envelope, fresh-until,
    /// expired flag, version): freshness judged on the reader's clock as the script judges it, the version the key's
    /// (every change rewrites or deletes the hash in the step that gives the new version), no clock
    /// (<see cref="DistributedReadResult.Stamp"/> 0), no lock needed. Anything else takes the script as well: at most two
    /// round trips for a read that then leads, and the script alone when the clock is required.
    /// </remarks>
    public async ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (ConfigurationError is not null)
        {
            return new DistributedReadResult { Outcome = DistributedOutcome.Unavailable };
        }

        if (!options.RequireStamp)
        {
            var fields = await _guard.RunAsync("read", (database: _options.Database, key: (RedisKey)_keys.Value(key)), static (m, s) => ReadPlainAsync(m.GetDatabase(s.database), s.key), null, cancellationToken).ConfigureAwait(false);
            if (fields is null)
            {
                return new DistributedReadResult { Outcome = DistributedOutcome.Unavailable };
            }

            if (TryAnswerPlain(fields, options.Now, out var answer))
            {
                return answer;
            }
        }

        return await ReadByScriptAsync(key, options, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<RedisValue[]?> ReadPlainAsync(IDatabase database, RedisKey key)
    {
        try
        {
            return await database.HashGetAsync(key, RedisScripts.PlainReadFields).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
        {
            return WrongType; // not ours: the script reports it (logged, counted) and, asked to, takes the lock
        }
    }

    /// <summary>
    /// The plain read's answer, when it has one: a well-formed value (an envelope, a whole non-negative fresh-until in
    /// Unix ms, a positive version), not expired, fresh at <paramref name="now"/> (the script's comparison); false for
    /// everything else, which the script reads again and judges (a hash written before versions were kept in it too).
    /// </summary>
    private static bool TryAnswerPlain(RedisValue[] fields, DateTimeOffset now, out DistributedReadResult answer)
    {
        answer = default;
        if (fields.Length != RedisScripts.PlainReadFields.Length || fields[0].IsNull || !fields[2].IsNull
            || !fields[1].TryParse(out long freshUntil) || freshUntil < 0 || freshUntil <= now.ToUnixTimeMilliseconds()
            || !fields[3].TryParse(out long version) || version <= 0)
        {
            return false;
        }

        answer = new DistributedReadResult { Envelope = (byte[]?)fields[0], Version = version };
        return true;
    }

    /// <summary>The read-or-acquire script: one round trip that reads, judges, and with the lock mode takes the lock.</summary>
    private async ValueTask<DistributedReadResult> ReadByScriptAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken)
    {
        var acquire = options.LockMode == DistributedLockMode.AcquireIfNotFresh;
        var lockKey = _keys.Lock(key);
        var slot = acquire ? _waits.Enter(lockKey) : null;
        var sequence = _waits.Sequence;
        var token = acquire ? NewToken() : string.Empty;
        var lease = options.LeaseDuration > TimeSpan.Zero ? options.LeaseDuration : TimeSpan.FromSeconds(30);
        var sent = TimeProvider.GetTimestamp();
        try
        {
            var keys = new RedisKey[] { _keys.Value(key), lockKey, _keys.Version(key) };
            var args = new RedisValue[] { acquire ? 1 : 0, acquire ? options.Now.ToUnixTimeMilliseconds() : 0, token, Milliseconds(lease), 0 /* the deadline: set when the command is sent */ };
            var reply = await EvaluateAsync("read", RedisScripts.Read, keys, args, deadlineAt: 4, cancellationToken).ConfigureAwait(false);
            if (reply is null || reply.IsNull)
            {
                return new DistributedReadResult { Outcome = DistributedOutcome.Unavailable };
            }

            var parts = (RedisResult[])reply!;
            var envelope = parts[0].IsNull ? null : (byte[]?)parts[0];
            if ((long)parts[1] == 1)
            {
                Metrics.CorruptValues.Add(1);
                Log.CorruptValue(Logger, keys[0]!);
            }

            var result = new DistributedReadResult
            {
                Envelope = envelope,
                Version = (long)parts[3],
                Stamp = StampFromMicroseconds((long)parts[4]),
                Expired = (long)parts[5] == 1,
            };
            var code = (long)parts[2];
            if (code == RedisScripts.Stale)
            {
                Log.StaleRequestRefused(Logger, "read");
            }
            else if (code == RedisScripts.Acquired)
            {
                return result with { Lease = new RedisLease(this, key, lockKey, token, lease, autoExtend: true, sent) };
            }

            if (code > 0 && slot is not null)
            {
                var heldFor = TimeSpan.FromMilliseconds(code);
                _waits.KeepHint(slot, sequence, heldFor);
                slot = null;
                return result with { LockHeldFor = heldFor };
            }

            return result;
        }
        finally
        {
            if (slot is not null)
            {
                _waits.Exit(slot);
            }
        }
    }
}
