using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>
/// Garnet is a .NET program without precompiled code: a fresh garnet-server JIT-compiles each command path the first
/// time it runs (its first script took 0.6 s here on a loaded 2-core machine, the next ones 10 ms). Tests whose
/// operation timeout is 500 ms would measure that instead of StampedeGuard, so a started Garnet first runs, once, the
/// commands the tier and StackExchange.Redis's handshake send. (Redis needs none of this.)
/// </summary>
internal static class GarnetWarmUp
{
    /// <summary>Every command the scripts in src/StampedeGuard.Redis/Internal/RedisScripts.cs call, on throwaway keys.</summary>
    private const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local ok = pcall(redis.call, 'HMGET', KEYS[1], 'v', 'f', 'e')
        redis.call('SET', KEYS[2], string.format('%.0f', now), 'PX', 1000)
        redis.call('GET', KEYS[2])
        redis.call('SET', KEYS[3], 'token', 'NX', 'PX', 1000)
        redis.call('PTTL', KEYS[3])
        redis.call('PEXPIRE', KEYS[3], 1000)
        redis.call('HSET', KEYS[1], 'v', 'x', 'f', '1')
        redis.call('HSET', KEYS[1], 'e', '1', 'f', '0')
        redis.call('PEXPIRE', KEYS[1], 1000)
        redis.call('EXISTS', KEYS[1])
        redis.call('INCR', KEYS[4])
        redis.call('PUBLISH', ARGV[1], 'w' .. struct.pack('<d', now))
        redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
        return {1, now}
        """;

    public static async Task RunAsync(int port, bool scripting)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
        var stream = client.GetStream();
        var reader = new BufferedStream(stream);
        string[][] commands =
        [
            ["CLIENT", "SETNAME", "warmup"], ["ECHO", "x"], ["CONFIG", "GET", "databases"], ["INFO", "replication"], ["INFO", "server"],
            ["CLUSTER", "NODES"], ["GET", "__warmup"], ["SET", "__warmup", "1", "PX", "1000"], ["DEL", "__warmup"], ["PUBLISH", "__warmup", "x"],
        ];
        string[] evalArgs = ["4", "__w:{w}:v", "__w:{w}:g", "__w:{w}:l", "__w:epoch", "__warmup"];
        if (scripting)
        {
            commands = [.. commands, ["EVAL", Script, .. evalArgs], ["EVAL", "return 1", "0"], ["SCRIPT", "LOAD", Script]];
        }

        string? sha = null;
        foreach (var command in commands)
        {
            await stream.WriteAsync(Encode(command)).ConfigureAwait(false);
            sha = await ReadReplyAsync(reader).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }

        if (scripting && sha is not null)
        {
            await stream.WriteAsync(Encode(["EVALSHA", sha, .. evalArgs])).ConfigureAwait(false);
            await ReadReplyAsync(reader).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }

        // The subscriber side: SUBSCRIBE, a message, UNSUBSCRIBE.
        await stream.WriteAsync(Encode(["SUBSCRIBE", "__warmup"])).ConfigureAwait(false);
        await ReadReplyAsync(reader).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        await stream.WriteAsync(Encode(["UNSUBSCRIBE", "__warmup"])).ConfigureAwait(false);
        await ReadReplyAsync(reader).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }

    private static byte[] Encode(string[] command)
    {
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"*{command.Length}\r\n");
        foreach (var part in command)
        {
            text.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(part)}\r\n{part}\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>Reads one RESP2 reply of any type (errors included): a bulk string's text, else null.</summary>
    private static async Task<string?> ReadReplyAsync(Stream reader)
    {
        var line = await ReadLineAsync(reader).ConfigureAwait(false);
        switch (line[0])
        {
            case '$':
                var length = int.Parse(line.AsSpan(1), CultureInfo.InvariantCulture);
                if (length < 0)
                {
                    return null;
                }

                var bulk = new byte[length + 2];
                await reader.ReadExactlyAsync(bulk).ConfigureAwait(false);
                return Encoding.UTF8.GetString(bulk, 0, length);
            case '*':
                for (var i = int.Parse(line.AsSpan(1), CultureInfo.InvariantCulture); i > 0; i--)
                {
                    await ReadReplyAsync(reader).ConfigureAwait(false);
                }

                return null;
            default:
                return null;
        }
    }

    private static async Task<string> ReadLineAsync(Stream reader)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            await reader.ReadExactlyAsync(one).ConfigureAwait(false);
            if (one[0] == '\n')
            {
                return line.ToString().TrimEnd('\r');
            }

            line.Append((char)one[0]);
        }
    }
}
