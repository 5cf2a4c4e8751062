// A worker process for the multi-process tests and the benchmarks. It reads commands on stdin and answers on stdout:
//   round <key> <counterKey>  - W concurrent callers GetOrCreateAsync(key); the factory INCRs counterKey in Redis.
//                               With --barrier off the factory then waits until P processes are inside it (proving
//                               they ran concurrently); with it on it takes --factory-ms.
//   hold <key> <counterKey>   - one caller whose factory INCRs, prints "infactory", and finishes on "finish".
//   finish                    - lets a held factory return.
//   quit
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using StampedeGuard;
using StampedeGuard.Redis;

var arguments = ParseArguments(args);
var redis = arguments["redis"];
var workers = int.Parse(arguments.GetValueOrDefault("workers", "4"));
var processes = int.Parse(arguments.GetValueOrDefault("processes", "1"));
var factoryMs = int.Parse(arguments.GetValueOrDefault("factory-ms", "200"));
var leaseMs = int.Parse(arguments.GetValueOrDefault("lease-ms", "5000"));
var durationMs = int.Parse(arguments.GetValueOrDefault("duration-ms", "60000"));
var barrier = arguments.GetValueOrDefault("barrier", "on") == "on";
var prefix = arguments.GetValueOrDefault("prefix", "sg:");

long redisErrors = 0;
using var meters = new System.Diagnostics.Metrics.MeterListener();
meters.InstrumentPublished = (instrument, l) => { if (instrument.Name == "stampedeguard.redis.errors") { l.EnableMeasurementEvents(instrument); } };
meters.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref redisErrors, value));
meters.Start();
using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new StderrLoggerProvider()));
Trace("connecting");
using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { ConnectionMultiplexer = connection, KeyPrefix = prefix, OperationTimeout = TimeSpan.FromSeconds(5) }, loggers);
Trace("connected");
var db = connection.GetDatabase();
using var cache = new StampedeCache(new StampedeCacheOptions { DistributedLockLease = TimeSpan.FromMilliseconds(leaseMs) }, distributedStore: tier, backplane: tier, loggerFactory: loggers);
var entryOptions = new StampedeCacheEntryOptions
{
    Duration = TimeSpan.FromMilliseconds(durationMs),
    EarlyRefreshBeta = 0,
    SkipDistributedLock = !barrier,
    LockTimeout = TimeSpan.FromSeconds(30),
};
var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
var pid = Environment.ProcessId;
Console.Out.Flush();
Console.WriteLine("ready");

string? line;
var pending = new List<Task>();
while ((line = Console.ReadLine()) is not null)
{
    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    switch (parts.FirstOrDefault())
    {
        case "round":
            await RoundAsync(parts[1], parts[2]);
            break;
        case "hold":
            pending.Add(HoldAsync(parts[1], parts[2]));
            break;
        case "finish":
            finish.TrySetResult();
            await Task.WhenAll(pending);
            break;
        case "quit":
            await tier.DisposeAsync();
            return 0;
    }
}

return 0;

async Task RoundAsync(string key, string counterKey)
{
    var errors = 0;
    long maxMs = 0;
    var values = new string[workers];
    var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    var callers = Enumerable.Range(0, workers).Select(i => Task.Run(async () =>
    {
        await start.Task;
        var stopwatch = Stopwatch.StartNew();
        try
        {
            values[i] = await cache.GetOrCreateAsync<string, string>(key, counterKey, async (counter, context, token) =>
            {
                var runs = await db.StringIncrementAsync(counter);
                if (!barrier)
                {
                    var waited = Stopwatch.StartNew();
                    while ((long)await db.StringGetAsync(counter) < processes && waited.Elapsed < TimeSpan.FromSeconds(20))
                    {
                        await Task.Delay(20, token);
                    }
                }
                else
                {
                    await Task.Delay(factoryMs, token);
                }

                return $"{pid}:{runs}";
            }, entryOptions);
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref errors);
            Console.Error.WriteLine(ex);
        }

        var elapsed = stopwatch.ElapsedMilliseconds;
        long seen;
        while (elapsed > (seen = Interlocked.Read(ref maxMs)) && Interlocked.CompareExchange(ref maxMs, elapsed, seen) != seen)
        {
        }
    })).ToArray();
    start.SetResult();
    await Task.WhenAll(callers);
    Console.WriteLine($"done {key} ok={workers - errors} errors={errors} maxms={maxMs} distinct={values.Where(v => v is not null).Distinct().Count()} redisErrors={Interlocked.Read(ref redisErrors)}");
}

async Task HoldAsync(string key, string counterKey)
{
    var lost = false;
    Trace($"hold {key}");
    var value = await cache.GetOrCreateAsync<string, string>(key, counterKey, async (counter, context, token) =>
    {
        Trace("hold factory starts");
        var runs = await db.StringIncrementAsync(counter);
        Trace("hold factory counted");
        Console.WriteLine("infactory");
        await finish.Task;

        // A process resumed after a pause learns of the loss when its overdue lease timer fires: allow it a moment.
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(10), context.LeaseLost);
        }
        catch (OperationCanceledException)
        {
        }

        lost = context.LeaseLost.IsCancellationRequested;
        return $"late:{pid}:{runs}";
    }, entryOptions);
    Console.WriteLine($"held-done value={value} leaselost={lost}");
}

static void Trace(string what) => Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} trace {what}");

static Dictionary<string, string> ParseArguments(string[] args)
{
    var result = new Dictionary<string, string>();
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        result[args[i].TrimStart('-')] = args[i + 1];
    }

    return result;
}
