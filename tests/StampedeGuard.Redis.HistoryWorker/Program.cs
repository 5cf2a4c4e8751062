// One node of the history checker (tests/StampedeGuard.Redis.Tests/History): a StampedeCache over a RedisStampedeTier
// that runs a random workload and records every operation it issues, as JSON lines, in a file of its own.
//
// Arguments: --redis <configuration> --prefix <key prefix> --node <node id>
//            [--clock-offset-ms N]   the cache's (and tier's) TimeProvider runs N ms ahead of the system clock
//            [--op-timeout-ms 2000]  RedisStampedeOptions.OperationTimeout
//            [--lease-ms 2000]       StampedeCacheOptions.DistributedLockLease
// Commands on stdin (answers on stdout):
//   history <seconds> <loops> <keys> <seed> <outfile>  - prints "started <ms>", runs <loops> concurrent loops of random
//                                                        operations on keys k0..k<keys-1> for <seconds>, waits for the
//                                                        operations in flight, prints "done ops=<n> fails=<n>".
//   quit
//
// The history file, one JSON object a line, flushed line by line so a killed process keeps what it recorded:
//   {"type":"invoke", node, id, loop, op, key|tag, value (the value a Set writes), tags, inv}  before the call
//   {"type":"op", node, id, loop, op, key|tag, value, hasValue, stale, outcome (ok|fail), error, inv, ret, factoryStart}
//   {"type":"factory", node, key, value, start, end}  written by the factory before it returns its value
// An "invoke" without its "op" line is an operation whose outcome is unknown (the process died). Times are
// milliseconds of Stopwatch.GetTimestamp() (CLOCK_MONOTONIC on Linux: one clock for every process on the machine),
// never the cache's (possibly skewed) clock.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using StampedeGuard;
using StampedeGuard.Redis;
using StampedeGuard.Redis.Tests.History;

var arguments = ParseArguments(args);
var redis = arguments["redis"];
var prefix = arguments.GetValueOrDefault("prefix", "h:");
var node = arguments.GetValueOrDefault("node", "n" + Environment.ProcessId);
var clockOffset = TimeSpan.FromMilliseconds(int.Parse(arguments.GetValueOrDefault("clock-offset-ms", "0")));
var operationTimeout = TimeSpan.FromMilliseconds(int.Parse(arguments.GetValueOrDefault("op-timeout-ms", "2000")));
var lease = TimeSpan.FromMilliseconds(int.Parse(arguments.GetValueOrDefault("lease-ms", "2000")));

TimeProvider clock = clockOffset == TimeSpan.Zero ? TimeProvider.System : new SkewedTimeProvider(clockOffset);
using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddProvider(new StderrLoggerProvider(node)));
using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
var tier = await RedisStampedeTier.ConnectAsync(
    new RedisStampedeOptions { ConnectionMultiplexer = connection, KeyPrefix = prefix, OperationTimeout = operationTimeout }, loggers, clock);
using var cache = new StampedeCache(
    new StampedeCacheOptions { TimeProvider = clock, DistributedLockLease = lease },
    distributedStore: tier,
    backplane: tier,
    loggerFactory: loggers);

Console.WriteLine("ready");
string? line;
while ((line = Console.ReadLine()) is not null)
{
    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    switch (parts.FirstOrDefault())
    {
        case "history":
            using (var log = new HistoryLog(parts[5]))
            {
                var workload = new Workload(cache, log, node);
                Console.WriteLine($"started {HistoryLog.Now():F3}");
                var (ops, fails) = await workload.RunAsync(
                    TimeSpan.FromSeconds(double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)),
                    int.Parse(parts[2]),
                    int.Parse(parts[3]),
                    int.Parse(parts[4]));
                Console.WriteLine($"done ops={ops} fails={fails}");
            }

            break;
        case "quit":
            cache.Dispose();
            await tier.DisposeAsync();
            return 0;
    }
}

return 0;

static Dictionary<string, string> ParseArguments(string[] args)
{
    var result = new Dictionary<string, string>();
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        result[args[i].TrimStart('-')] = args[i + 1];
    }

    return result;
}

/// <summary>The random workload: each loop picks an operation and a key, records the call, makes it, records the outcome.</summary>
internal sealed class Workload(StampedeCache cache, HistoryLog log, string node)
{
    private readonly ConcurrentDictionary<string, double> _factoryStarts = new();
    private long _ids;
    private long _ops;
    private long _fails;

    /// <summary>Each key's tags: its group (tA for even keys, tB for odd ones).</summary>
    public static string[] TagsOf(string key) => [int.Parse(key.AsSpan(1)) % 2 == 0 ? "tA" : "tB"];

    public async Task<(long Ops, long Fails)> RunAsync(TimeSpan duration, int loops, int keys, int seed)
    {
        var deadline = HistoryLog.Now() + duration.TotalMilliseconds;
        var nodeSeed = node.Aggregate(17, (h, c) => (h * 31) + c);
        await Task.WhenAll(Enumerable.Range(0, loops).Select(loop => Task.Run(() => LoopAsync(loop, keys, new Random(HashCode.Combine(seed, nodeSeed, loop)), deadline))));
        return (Interlocked.Read(ref _ops), Interlocked.Read(ref _fails));
    }

    private async Task LoopAsync(int loop, int keys, Random random, double deadline)
    {
        while (HistoryLog.Now() < deadline)
        {
            var key = "k" + random.Next(keys);
            var roll = random.Next(100);
            if (roll < 35)
            {
                await GetOrCreateAsync(loop, key, random);
            }
            else if (roll < 55)
            {
                await RecordAsync(loop, "TryGet", key, null, null, null, async () =>
                {
                    var lookup = await cache.TryGetAsync<string>(key);
                    return new HistoryLine { Value = lookup.HasValue ? lookup.Value : null, HasValue = lookup.HasValue, Stale = lookup.IsStale };
                });
            }
            else if (roll < 70)
            {
                var value = $"s:{node}:{Interlocked.Increment(ref _ids)}";
                var options = EntryOptions(key, random);
                await RecordAsync(loop, "Set", key, null, value, options.Tags, async () =>
                {
                    await cache.SetAsync(key, value, options);
                    return null;
                });
            }
            else if (roll < 80)
            {
                await RecordAsync(loop, "Remove", key, null, null, null, async () =>
                {
                    await cache.RemoveAsync(key);
                    return null;
                });
            }
            else if (roll < 88)
            {
                await RecordAsync(loop, "Expire", key, null, null, null, async () =>
                {
                    await cache.ExpireAsync(key);
                    return null;
                });
            }
            else
            {
                var tag = roll < 98 ? TagsOf(key)[0] : "*";
                await RecordAsync(loop, "RemoveByTag", null, tag, null, null, async () =>
                {
                    await cache.RemoveByTagAsync(tag);
                    return null;
                });
            }

            await Task.Delay(random.Next(0, 20));
        }
    }

    private Task GetOrCreateAsync(int loop, string key, Random random)
    {
        var options = EntryOptions(key, random);
        return RecordAsync(loop, "GetOrCreate", key, null, null, options.Tags, async () =>
        {
            var value = await cache.GetOrCreateAsync<string, string>(key, key, async (k, context, token) =>
            {
                var start = HistoryLog.Now();
                var produced = $"f:{node}:{Interlocked.Increment(ref _ids)}";
                await Task.Delay(Random.Shared.Next(0, 301), token);
                _factoryStarts[produced] = start;
                log.Write(new HistoryLine { Type = "factory", Node = node, Key = k, Value = produced, Start = start, End = HistoryLog.Now() });
                return produced;
            }, options);
            return new HistoryLine { Value = value, HasValue = true, FactoryStart = _factoryStarts.TryGetValue(value, out var started) ? started : null };
        });
    }

    private static StampedeCacheEntryOptions EntryOptions(string key, Random random) => new()
    {
        Duration = TimeSpan.FromMilliseconds(random.Next(2000, 5001)),
        StaleWhileRevalidate = TimeSpan.Zero,
        StaleIfError = TimeSpan.Zero,
        EarlyRefreshBeta = 0,
        LockTimeout = TimeSpan.FromSeconds(3),
        Tags = TagsOf(key),
    };

    private async Task RecordAsync(int loop, string op, string? key, string? tag, string? written, IReadOnlyList<string>? tags, Func<Task<HistoryLine?>> call)
    {
        var id = Interlocked.Increment(ref _ids);
        var inv = HistoryLog.Now();
        log.Write(new HistoryLine { Type = "invoke", Node = node, Id = id, Loop = loop, Op = op, Key = key, Tag = tag, Value = written, Tags = tags?.ToArray(), Inv = inv });
        HistoryLine? read = null;
        string? error = null;
        try
        {
            read = await call();
        }
        catch (Exception ex)
        {
            error = $"{ex.GetType().Name}: {ex.Message.Split('\n')[0]}";
            Interlocked.Increment(ref _fails);
        }

        var ret = HistoryLog.Now();
        Interlocked.Increment(ref _ops);
        log.Write(new HistoryLine
        {
            Type = "op",
            Node = node,
            Id = id,
            Loop = loop,
            Op = op,
            Key = key,
            Tag = tag,
            Value = written ?? read?.Value,
            HasValue = read?.HasValue,
            Stale = read?.Stale,
            FactoryStart = read?.FactoryStart,
            Tags = tags?.ToArray(),
            Outcome = error is null ? "ok" : "fail",
            Error = error,
            Inv = inv,
            Ret = ret,
        });
    }
}

/// <summary>The history file: one JSON line per record, written through to the OS at once (a SIGKILL keeps it).</summary>
internal sealed class HistoryLog(string path) : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private static readonly double TicksPerMs = Stopwatch.Frequency / 1000.0;
    private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 1)) { AutoFlush = true };

    /// <summary>Milliseconds on the machine's monotonic clock, comparable across processes.</summary>
    public static double Now() => Math.Round(Stopwatch.GetTimestamp() / TicksPerMs, 3);

    public void Write(HistoryLine line)
    {
        var text = JsonSerializer.Serialize(line, Json);
        lock (_writer)
        {
            _writer.WriteLine(text);
        }
    }

    public void Dispose()
    {
        lock (_writer)
        {
            _writer.Dispose();
        }
    }
}

/// <summary>A clock <c>offset</c> ahead of (or behind) the system's wall clock; timestamps stay the system's.</summary>
internal sealed class SkewedTimeProvider(TimeSpan offset) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => TimeProvider.System.GetUtcNow() + offset;
}

/// <summary>Warnings and errors to stderr, so a failing test can show what a node logged.</summary>
internal sealed class StderrLoggerProvider(string node) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(node, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(string node, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Console.Error.WriteLine($"{HistoryLog.Now():F3} {node} {logLevel} {category}[{eventId.Id}] {formatter(state, exception)} {exception?.GetType().Name} {exception?.Message}");
    }
}
