namespace StampedeGuard.Redis.Internal;

/// <summary>
/// The Lua scripts: each is one atomic round trip. Values are hashes {v = envelope, f = freshUntil (Unix ms), e = "1" once
/// expired, g = the key's version}; a key's version (its latest change, on Redis's clock in microseconds) is also a
/// string beside it, kept for the version retention (it outlives a removal); a tag's record is its latest invalidation
/// on the same clock. Every change of a key rewrites (write, expire) or deletes (remove) the hash in the same step that
/// gives the key its new version, so a hash's <c>g</c> is always the key's version: a plain <c>HMGET v f e g</c> reads
/// a value, its freshness and its version in one command. A key's version is the larger of the two (a hash written
/// before <c>g</c> existed has none).
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// The hash fields of the plain read (<c>HMGET</c>, no script) an L2 read tries first: envelope, fresh-until, expired
    /// flag, version. A well-formed value with a version that is fresh at the reader's now (and not expired) is answered
    /// from it alone; anything else (no value, a value of another type, inconsistent fields, a hash without a version,
    /// a stale or expired value) goes on to <see cref="Read"/>, which also takes the lock.
    /// </summary>
    public static readonly StackExchange.Redis.RedisValue[] PlainReadFields = ["v", "f", "e", "g"];

    /// <summary>Lock outcome codes in a read's third element; a positive number is the holder's remaining lease in ms (a lock about to expire reports 1 ms, one without expiry reports our lease length).</summary>
    public const long NotAttempted = 0;

    public const long Acquired = -3;

    /// <summary>The request reached Redis after its deadline (replayed from a client backlog after a reconnect): nothing was taken or written.</summary>
    public const long Stale = -4;

    /// <summary>A fenced write found another owner of the lock.</summary>
    public const long Fenced = -1;

    /// <summary>A conditional write found the key changed since the read it was based on.</summary>
    public const long Superseded = -2;

    /// <summary>The Redis clock in microseconds since the Unix epoch: the one clock versions and invalidations are ordered by.</summary>
    private const string Clock = """
        local function clock_us()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000000 + tonumber(t[2])
        end
        local function stored(gkey)
          return tonumber(redis.call('GET', gkey) or '0') or 0
        end
        local function version(vkey, gkey)
          local ok, h = pcall(redis.call, 'HGET', vkey, 'g')
          local cur = stored(gkey)
          local hv = ok and tonumber(h) or 0
          if hv > cur then return hv end
          return cur
        end
        local function bump(gkey, now, retention, cur)
          local nv = now
          if nv <= cur then nv = cur + 1 end
          redis.call('SET', gkey, string.format('%.0f', nv), 'PX', retention)
          return nv
        end
        local function message(prefix, version, rest)
          return prefix .. struct.pack('<d', version) .. rest
        end

        """;

    /// <summary>
    /// Read, and with mode 1 take the lock when the value is missing, expired or not fresh.
    /// KEYS: value, lock, version. ARGV: mode, now (ms), token, lease (ms), deadline (Unix ms, compared with Redis's TIME).
    /// Returns {envelope|nil, corrupt(0/1), lockCode, version, clock (us), expired(0/1)}. A value of another Redis type,
    /// or an envelope whose fields are inconsistent (a payload without a numeric, finite, non-negative fresh-until, or the
    /// reverse), is a miss flagged corrupt: the caller recomputes it and the write replaces it. A lock request past its
    /// deadline takes nothing ({.., .., -4, ..}). The version is the key's latest change (0 if none is remembered).
    /// The tier sends it only when its plain read (<see cref="PlainReadFields"/>) did not answer.
    /// </summary>
    public const string Read = Clock + """
        local ok, r = pcall(redis.call, 'HMGET', KEYS[1], 'v', 'f', 'e', 'g')
        local v, f, bad, e, hv = false, nil, 0, 0, 0
        if ok then
          v = r[1]; f = tonumber(r[2])
          if (v or r[2]) and not (v and f and f == f and f >= 0 and f < math.huge) then v = false; f = nil; bad = 1 end
          if v and r[3] == '1' then e = 1 end
          if v then hv = tonumber(r[4]) or 0 end
        else bad = 1 end
        local g = stored(KEYS[3])
        if hv > g then g = hv end
        local now = clock_us()
        if ARGV[1] == '0' then return {v, bad, 0, g, now, e} end
        if v and e == 0 and f > tonumber(ARGV[2]) then return {v, bad, 0, g, now, e} end
        if math.floor(now / 1000) > tonumber(ARGV[5]) then return {v, bad, -4, g, now, e} end
        if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then return {v, bad, -3, g, now, e} end
        local ttl = redis.call('PTTL', KEYS[2])
        if ttl == -1 then ttl = tonumber(ARGV[4]) elseif ttl < 1 then ttl = 1 end
        return {v, bad, ttl, g, now, e}
        """;

    /// <summary>
    /// Write a value, as one atomic step: refused past its deadline (-4); fenced by the lock token when one is given
    /// (-1 unless the token still owns the lock); conditional on the key's version when one is expected (-2 if the key
    /// changed since the read that returned it, or if that read is older than the version retention, when a change
    /// could have been forgotten). Then the key gets a new version, the lock is released, and the set message (with the
    /// version) is published. KEYS: value, lock, version. ARGV: envelope, freshUntil (ms), ttl (ms), token ('' =
    /// unfenced), channel, message prefix ('' = none), message rest, append envelope ('1'/'0'), release message ('' =
    /// none), deadline (Unix ms), expected version ('' = none), read clock (us), version retention (ms), unchanged
    /// since (us on Redis's clock, '' = none: with no expected version either, the write is unconditional). Further
    /// KEYS (standalone Redis only: they live in other slots) are the records of the entry's tags and of "*": a
    /// conditional write is refused if one of them was invalidated at or after the run began.
    /// Returns {code, version}: 1 written and published, 0 written without a message, or a refusal code.
    /// </summary>
    public const string Write = Clock + """
        local now = clock_us()
        if math.floor(now / 1000) > tonumber(ARGV[10]) then return {-4, 0} end
        if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[4] then return {-1, 0} end
        local cur = version(KEYS[1], KEYS[3])
        if ARGV[11] ~= '' then
          if cur ~= tonumber(ARGV[11]) then return {-2, cur} end
          if now - tonumber(ARGV[12]) > tonumber(ARGV[13]) * 1000 then return {-2, cur} end
        elseif ARGV[14] ~= '' then
          if cur >= tonumber(ARGV[14]) then return {-2, cur} end
          if now - tonumber(ARGV[14]) > tonumber(ARGV[13]) * 1000 then return {-2, cur} end
        end
        local since = tonumber(ARGV[14] ~= '' and ARGV[14] or ARGV[12])
        for i = 4, #KEYS do
          local t = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
          if t >= since then return {-2, 0} end
        end
        local nv = bump(KEYS[3], now, ARGV[13], cur)
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'f', ARGV[2], 'g', string.format('%.0f', nv))
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        if ARGV[4] ~= '' then redis.call('DEL', KEYS[2]) end
        if ARGV[6] ~= '' then
          local m = message(ARGV[6], nv, ARGV[7])
          if ARGV[8] == '1' then m = m .. ARGV[1] end
          redis.call('PUBLISH', ARGV[5], m)
          return {1, nv}
        end
        if ARGV[9] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[9]) end
        return {0, nv}
        """;

    /// <summary>
    /// Remove ('r') or expire ('e') a key, give it a new version (so a run that read an older one cannot store), and
    /// publish the message with that version, as one atomic step; refused past its deadline (-4). An expired value keeps
    /// its envelope and is flagged (readers judge it stale on their own clock). KEYS: value, version. ARGV: kind,
    /// channel, message prefix, message rest, version retention (ms), deadline (Unix ms). Returns {1, version, clock (us)}.
    /// </summary>
    public const string Invalidate = Clock + """
        local now = clock_us()
        if math.floor(now / 1000) > tonumber(ARGV[6]) then return {-4, 0, now} end
        local nv = bump(KEYS[2], now, ARGV[5], version(KEYS[1], KEYS[2]))
        if ARGV[1] == 'r' then
          redis.call('DEL', KEYS[1])
        elseif redis.call('EXISTS', KEYS[1]) == 1 then
          redis.call('HSET', KEYS[1], 'e', '1', 'f', '0', 'g', string.format('%.0f', nv))
        end
        redis.call('PUBLISH', ARGV[2], message(ARGV[3], nv, ARGV[4]))
        return {1, nv, now}
        """;

    /// <summary>
    /// Record a tag invalidation (or "*") on Redis's clock, kept for the tag retention, and publish it, as one atomic
    /// step. KEYS: tag record. ARGV: channel, message prefix, message rest, retention (ms), deadline (Unix ms).
    /// Returns {1, stamp (us), clock (us)}.
    /// </summary>
    public const string InvalidateTag = Clock + """
        local now = clock_us()
        if math.floor(now / 1000) > tonumber(ARGV[5]) then return {-4, 0, now} end
        local nv = bump(KEYS[1], now, ARGV[4], stored(KEYS[1]))
        redis.call('PUBLISH', ARGV[1], message(ARGV[2], nv, ARGV[3]))
        return {1, nv, now}
        """;

    /// <summary>
    /// The heartbeat: count it in the epoch counter (a counter that goes back means Redis lost or rolled back data: a
    /// restart, a restore, a failover to a lagging replica) and publish it, so the node sees its subscription deliver.
    /// KEYS: epoch. ARGV: channel, message. Returns the counter.
    /// </summary>
    public const string Heartbeat = """
        local c = redis.call('INCR', KEYS[1])
        redis.call('PUBLISH', ARGV[1], ARGV[2])
        return c
        """;

    /// <summary>Take a lock. KEYS: lock. ARGV: token, lease (ms), deadline (Unix ms). Returns -3 when taken, -4 past its deadline (nothing taken), else the holder's remaining ms.</summary>
    public const string Acquire = """
        local t = redis.call('TIME')
        if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[3]) then return -4 end
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -3 end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl == -1 then ttl = tonumber(ARGV[2]) elseif ttl < 1 then ttl = 1 end
        return ttl
        """;

    /// <summary>Extend a lock if the token owns it. KEYS: lock. ARGV: token, lease (ms). Returns 1 extended, 0 not owned.</summary>
    public const string Extend = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """;

    /// <summary>Release a lock if the token owns it and announce it. KEYS: lock. ARGV: token, channel, message. Returns 1 released, 0 not owned.</summary>
    public const string Release = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('DEL', KEYS[1])
          redis.call('PUBLISH', ARGV[2], ARGV[3])
          return 1
        end
        return 0
        """;
}
