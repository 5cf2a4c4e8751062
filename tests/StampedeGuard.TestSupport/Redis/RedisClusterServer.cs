using System.Diagnostics;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>A real 3-master Redis Cluster on loopback (no replicas), created with <c>redis-cli --cluster create</c>.</summary>
public sealed class RedisClusterServer : IAsyncDisposable
{
    private RedisClusterServer(RedisServer[] nodes) => Nodes = nodes;

    public IReadOnlyList<RedisServer> Nodes { get; }

    public string Configuration => string.Join(',', Nodes.Select(n => n.EndPoint)) + ",abortConnect=false,connectTimeout=2000,syncTimeout=3000";

    public static async Task<RedisClusterServer> StartAsync()
    {
        var nodes = new RedisServer[3];
        for (var i = 0; i < nodes.Length; i++)
        {
            nodes[i] = await RedisServer.StartAsync("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000").ConfigureAwait(false);
        }

        var cluster = new RedisClusterServer(nodes);
        await RedisCli.RunAsync(["--cluster", "create", .. nodes.Select(n => n.EndPoint), "--cluster-replicas", "0", "--cluster-yes"]).ConfigureAwait(false);
        var stopwatch = Stopwatch.StartNew();
        foreach (var node in nodes)
        {
            while (!(await node.CliAsync("cluster", "info").ConfigureAwait(false)).Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                if (stopwatch.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new TimeoutException("The cluster did not reach cluster_state:ok within 30 s.");
                }

                await Task.Delay(100).ConfigureAwait(false);
            }
        }

        return cluster;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync().ConfigureAwait(false);
        }
    }
}
