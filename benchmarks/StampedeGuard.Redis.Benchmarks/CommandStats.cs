using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Benchmarks;

/// <summary>
/// What Redis itself counted: <c>INFO commandstats</c> calls per command (the commands a script runs included), so a
/// library's traffic is measured server-side whatever client it uses.
/// </summary>
internal static class CommandStats
{
    public static async Task<Dictionary<string, long>> ReadAsync(RedisServer server)
    {
        var text = await server.CliAsync("info", "commandstats");
        var result = new Dictionary<string, long>();
        foreach (var line in text.Split('\n').Where(l => l.StartsWith("cmdstat_", StringComparison.Ordinal)))
        {
            var name = line[8..line.IndexOf(':')];
            var calls = line[(line.IndexOf("calls=", StringComparison.Ordinal) + 6)..];
            result[name] = long.Parse(calls[..calls.IndexOf(',')]);
        }

        return result;
    }

    /// <summary>Calls per command between two readings, leaving out <paramref name="ignored"/> (the benchmark's own INFO and the like).</summary>
    public static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after, params string[] ignored) =>
        after.Where(kv => !ignored.Contains(kv.Key))
            .Select(kv => (kv.Key, Value: kv.Value - before.GetValueOrDefault(kv.Key)))
            .Where(kv => kv.Value > 0)
            .ToDictionary(kv => kv.Key, kv => kv.Value);
}
