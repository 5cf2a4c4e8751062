using System.Text;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// Key layout. A cache key <c>k</c> maps to <c>{prefix}{{esc(k)}}:v</c> (value hash), <c>{prefix}{{esc(k)}}:l</c>
/// (lock) and <c>{prefix}{{esc(k)}}:g</c> (version); a named lock <c>n</c> to <c>{prefix}lock:{{esc(n)}}</c>. The braces are the Redis Cluster hash tag, so a
/// key's value and lock share a slot. <c>esc</c> escapes <c>\</c> and <c>}</c> so a user's braces can neither end the
/// tag early nor leave it empty (an empty tag would hash the whole key and split value and lock), and it is injective.
/// </summary>
internal sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    public string Channel { get; } = prefix + "__notify";

    public string Value(string key) => Prefix + "{" + Escape(key) + "}:v";

    public string Lock(string key) => Prefix + "{" + Escape(key) + "}:l";

    public string Version(string key) => Prefix + "{" + Escape(key) + "}:g";

    public string Tag(string tag) => Prefix + "__tag:{" + Escape(tag) + "}";

    public string Epoch { get; } = prefix + "__epoch";

    public string NamedLock(string name) => Prefix + "lock:{" + Escape(name) + "}";

    public static string Escape(string key)
    {
        if (key.AsSpan().IndexOfAny('}', '\\') < 0)
        {
            return key;
        }

        var builder = new StringBuilder(key.Length + 8);
        foreach (var c in key)
        {
            _ = c switch
            {
                '\\' => builder.Append("\\\\"),
                '}' => builder.Append("\\)"),
                _ => builder.Append(c),
            };
        }

        return builder.ToString();
    }
}
