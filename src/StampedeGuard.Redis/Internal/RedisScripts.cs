namespace StampedeGuard.Redis.Internal;

/// <summary>The Lua scripts: each is one atomic round trip. Values are hashes {v = envelope, f = freshUntil (Unix ms)}.</summary>
internal static class RedisScripts
{
    /// <summary>Lock outcome codes in a read's third element; a positive number is the holder's remaining lease in ms (a lock about to expire reports 1 ms, one without expiry reports our lease length).</summary>
    public const long NotAttempted = 0;

    public const long Acquired = -3;

    /// <summary>The request reached Redis after its deadline (replayed from a client backlog after a reconnect): nothing was taken or written.</summary>
    public const long Stale = -4;

    /// <summary>
    /// Read, and with mode 1 take the lock when the value is missing or not fresh.
    /// KEYS: value, lock. ARGV: mode, now (ms), token, lease (ms), deadline (Unix ms, compared with Redis's TIME).
    /// Returns {envelope|nil, corrupt(0/1), lockCode}. A value of another Redis type, or an envelope whose fields are
    /// inconsistent (a payload without a numeric, finite, non-negative fresh-until, or the reverse), is a miss flagged
    /// corrupt: the caller recomputes it and the write replaces it. A lock request past its deadline takes nothing ({.., .., -4}).
    /// </summary>
    public const string Read = """
        local ok, r = pcall(redis.call, 'HMGET', KEYS[1], 'v', 'f')
        local v, f, bad = false, nil, 0
        if ok then
          v = r[1]; f = tonumber(r[2])
          if (v or r[2]) and not (v and f and f == f and f >= 0 and f < math.huge) then v = false; f = nil; bad = 1 end
        else bad = 1 end
        if ARGV[1] == '0' then return {v, bad, 0} end
        if v and f > tonumber(ARGV[2]) then return {v, bad, 0} end
        local t = redis.call('TIME')
        if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[5]) then return {v, bad, -4} end
        if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then return {v, bad, -3} end
        local ttl = redis.call('PTTL', KEYS[2])
        if ttl == -1 then ttl = tonumber(ARGV[4]) elseif ttl < 1 then ttl = 1 end
        return {v, bad, ttl}
        """;

    /// <summary>
    /// Write, fenced by the lock token when one is given (refused with -1 unless the token still owns the lock), release
    /// the lock, and publish. KEYS: value, lock. ARGV: envelope, freshUntil (ms), ttl (ms), token ('' = unfenced),
    /// channel, set-message header ('' = none), append envelope ('1'/'0'), release message ('' = none), deadline (Unix ms).
    /// Returns -1 refused, -4 past its deadline (nothing done), 1 written and the set message published, 0 written without it.
    /// </summary>
    public const string Write = """
        local t = redis.call('TIME')
        if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[9]) then return -4 end
        if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[4] then return -1 end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'f', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        if ARGV[4] ~= '' then redis.call('DEL', KEYS[2]) end
        if ARGV[6] ~= '' then
          local m = ARGV[6]
          if ARGV[7] == '1' then m = m .. ARGV[1] end
          redis.call('PUBLISH', ARGV[5], m)
          return 1
        end
        if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[8]) end
        return 0
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
