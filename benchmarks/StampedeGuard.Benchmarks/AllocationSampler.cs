using System.Diagnostics.Tracing;
using System.Globalization;
using StampedeGuard.Benchmarks.Peers;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// <c>--alloc</c>: where a library's bytes go on misses, by type. Listens to the runtime's own allocation sampling
/// (<c>GCAllocationTick</c>: one event per ~100 KB allocated, naming the type that crossed the line) while every
/// library serves distinct keys, each a miss then a hit, with a synchronous factory. The sampled bytes per type,
/// divided by the keys, estimate the bytes each type costs per key (good to a few percent for the big ones).
/// </summary>
public sealed class AllocationSampler : EventListener
{
    private readonly Dictionary<string, long> _bytes = new(StringComparer.Ordinal);
    private volatile bool _recording;

    /// <summary>Samples <paramref name="keyCount"/> misses per library and prints the top types.</summary>
    public static void Run(int keyCount)
    {
        var page = new Page("<html>miss</html>");
        for (var index = 0; index < CachePeer.Names.Length; index++)
        {
            var keys = Enumerable.Range(0, keyCount).Select(i => "key:" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
            using var peer = CachePeer.Create(index, page);
            PeerMissBenchmarks.MissThenHit(peer, ["warm-1", "warm-2"], asyncFactory: false).GetAwaiter().GetResult();
            using var sampler = new AllocationSampler();
            Thread.Sleep(200); // let the session start before recording (not a wait for an ordering: events before it are ignored)
            sampler._recording = true;
            var before = GC.GetTotalAllocatedBytes(precise: true);
            PeerMissBenchmarks.MissThenHit(peer, keys, asyncFactory: false).GetAwaiter().GetResult(); // a console runner
            var total = GC.GetTotalAllocatedBytes(precise: true) - before;
            sampler._recording = false;
            Thread.Sleep(200); // the last events arrive asynchronously
            sampler.Print(peer.Name, keyCount, total);
        }
    }

    /// <inheritdoc />
    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: allocation ticks
        }
    }

    /// <inheritdoc />
    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_recording || eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.Payload is null)
        {
            return;
        }

        var typeIndex = eventData.PayloadNames!.IndexOf("TypeName");
        var amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount64");
        var type = typeIndex >= 0 ? eventData.Payload[typeIndex] as string ?? "?" : "?";
        var amount = amountIndex >= 0 ? Convert.ToInt64(eventData.Payload[amountIndex], CultureInfo.InvariantCulture) : 100_000;
        lock (_bytes)
        {
            _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
        }
    }

    private void Print(string name, int keys, long total)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {total / (double)keys:0} bytes per key (miss + hit, measured exactly); sampled by type:"));
        Console.WriteLine();
        Console.WriteLine("| Type | ~bytes per key |");
        Console.WriteLine("|---|---:|");
        lock (_bytes)
        {
            foreach (var (type, bytes) in _bytes.OrderByDescending(p => p.Value).Take(24))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| `{type}` | {bytes / (double)keys:0} |"));
            }
        }

        Console.WriteLine();
    }
}
