using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Telemetry.Tests;

/// <summary>What a user of the OpenTelemetry SDK sees from the engine: meter and activity source <c>StampedeGuard</c>.</summary>
public sealed class StampedeCacheTelemetryTests : IDisposable
{
    private readonly OpenTelemetryCapture _otel = new("StampedeGuard");
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new();
    private readonly StampedeCache _cache;

    public StampedeCacheTelemetryTests() =>
        _cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = _time }, meterFactory: _services.GetRequiredService<IMeterFactory>());

    [Fact]
    public async Task Meter_MissThenHit_ExportsRequestCounterWithUnitAndResultTag()
    {
        await _cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));
        await _cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2));

        var requests = _otel.CollectMetrics()["stampedeguard.cache.requests"];

        (requests.Unit, requests.MetricType).Should().Be(("{request}", OpenTelemetry.Metrics.MetricType.LongSum));
        requests.SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.result=miss"] = 1,
            ["stampedeguard.result=hit"] = 1,
        });
    }

    [Fact]
    public async Task Meter_HitsOnEveryCoreAtOnce_ExportsTheExactCount()
    {
        // Hits from every core at once: none may be lost, whatever the counting does to avoid contention.
        const int threads = 8, hitsEach = 20_000;
        await _cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));
        using var start = new Barrier(threads);
        var hitters = Enumerable.Range(0, threads).Select(_ => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < hitsEach; i++)
            {
                var hit = _cache.GetOrCreateAsync("k", static _ => ValueTask.FromResult(2));
                if (!hit.IsCompletedSuccessfully || hit.Result != 1)
                {
                    throw new InvalidOperationException("not a synchronous hit");
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(hitters).WaitAsync(Poll.Timeout);

        _otel.CollectMetrics()["stampedeguard.cache.requests"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.result=miss"] = 1,
            ["stampedeguard.result=hit"] = threads * hitsEach,
        });
    }

    [Fact]
    public async Task Meter_TwoCachesOnOneMeterFactoryAndOneWithoutAny_ExportedCountsAreTheirSum()
    {
        // Several caches in one process report under the same meter name and instrument: the exported request count
        // must be their sum (a per-cache observable total would make the last one reported win).
        using var second = new StampedeCache(new StampedeCacheOptions { TimeProvider = _time }, meterFactory: _services.GetRequiredService<IMeterFactory>());
        using var third = new StampedeCache(new StampedeCacheOptions { TimeProvider = _time });
        foreach (var (cache, hits) in new[] { (_cache, 3), (second, 5), (third, 7) })
        {
            for (var i = 0; i <= hits; i++)
            {
                await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1)); // one miss, then the hits
            }
        }

        _otel.CollectMetrics()["stampedeguard.cache.requests"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.result=miss"] = 3,
            ["stampedeguard.result=hit"] = 15,
        });
    }

    [Fact]
    public async Task Meter_ConcurrentMisses_ExportsOneMissOneRunAndCollapsedWaiters()
    {
        const int callers = 20;
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        using var joined = new TagCounter(_services.GetRequiredService<IMeterFactory>(), "stampedeguard.cache.requests");
        var calls = Enumerable.Range(0, callers)
            .Select(_ => Task.Run(() => _cache.GetOrCreateAsync("k", async _ =>
            {
                Interlocked.Increment(ref runs);
                return await gate.Task;
            }).AsTask()))
            .ToArray();
        await Poll.UntilAsync(() => joined["miss"] + joined["collapsed"] == callers, "every caller joined the one run");
        gate.SetResult(7);
        (await Task.WhenAll(calls)).Should().AllBeEquivalentTo(7);
        await WaitsRecordedAsync(callers);

        var metrics = _otel.CollectMetrics();

        runs.Should().Be(1);
        metrics["stampedeguard.cache.requests"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.result=miss"] = 1,
            ["stampedeguard.result=collapsed"] = callers - 1,
        });
        metrics["stampedeguard.factory.runs"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long> { [string.Empty] = 1 });
        metrics["stampedeguard.factory.runs"].Unit.Should().Be("{run}");
        metrics["stampedeguard.wait.duration"].Histogram().Count.Should().Be(callers);
    }

    [Fact]
    public async Task Meter_ThousandUncancellableWaitersOnOneRun_NoTaskOrStateMachinePerWaiterAndEveryWaitRecorded()
    {
        // With OpenTelemetry listening, timing a wait must not give each waiter a path of its own (a state machine box
        // and a task continuation per waiter, ~160 B): the shared answer costs a waiter an 8-byte slot in the flight,
        // and the flight records every wait when the run answers. (This project runs without tiered compilation, so
        // the bytes are those of optimised code.)
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var warmGate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<CancellationToken, ValueTask<int>> factory = async _ => await gate.Task;
        Func<CancellationToken, ValueTask<int>> warmFactory = async _ => await warmGate.Task;
        var warm = new[] { _cache.GetOrCreateAsync("warm", warmFactory).AsTask(), _cache.GetOrCreateAsync("warm", warmFactory).AsTask() };
        var leader = _cache.GetOrCreateAsync("k", factory).AsTask();
        var first = _cache.GetOrCreateAsync("k", factory).AsTask(); // makes the shared answer task

        var waiters = new Task<int>[1000];
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < waiters.Length; i++)
        {
            waiters[i] = _cache.GetOrCreateAsync("k", factory).AsTask(); // the shared task itself: AsTask allocates nothing
        }

        var perWaiter = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)waiters.Length;
        _time.Advance(TimeSpan.FromMilliseconds(30));
        warmGate.SetResult(1);
        gate.SetResult(7);
        (await Task.WhenAll(warm).WaitAsync(Poll.Timeout)).Should().OnlyContain(v => v == 1);
        (await Task.WhenAll(waiters.Append(leader).Append(first)).WaitAsync(Poll.Timeout)).Should().OnlyContain(v => v == 7);

        perWaiter.Should().BeLessThan(40, "a waiter costs its slot in the flight's wait times (8 B in a doubling array), nothing of its own");
        await WaitsRecordedAsync(1004);
        var (count, buckets) = _otel.CollectMetrics()["stampedeguard.wait.duration"].Histogram();
        count.Should().Be(1004, "the leaders and waiters of both keys");
        buckets.Single(b => b.Bound == 0.05).Count.Should().Be(1004, "every caller waited the 30 ms its run took (the 25-50 ms bucket)");
    }

    /// <summary>Waits until the wait histogram holds <paramref name="count"/> records (a run records its waiters' on the thread pool).</summary>
    private Task WaitsRecordedAsync(long count) =>
        Poll.UntilAsync(() => _otel.CollectMetrics().TryGetValue("stampedeguard.wait.duration", out var waits) && waits.Histogram().Count >= count, $"{count} waits recorded");

    [Theory]
    [InlineData("stampedeguard.factory.duration")]
    [InlineData("stampedeguard.wait.duration")]
    public async Task Histogram_FactoryTakes30Ms_LandsInThe25To50MsBucketOfTheAdvisedBoundaries(string instrument)
    {
        await _cache.GetOrCreateAsync("k", _ =>
        {
            _time.Advance(TimeSpan.FromMilliseconds(30));
            return ValueTask.FromResult(1);
        });

        var metric = _otel.CollectMetrics()[instrument];
        var (count, buckets) = metric.Histogram();

        (metric.Unit, metric.MetricType, count).Should().Be(("s", OpenTelemetry.Metrics.MetricType.Histogram, 1L));
        buckets.Select(b => b.Bound).Should().Equal(OpenTelemetryCapture.DocumentedBuckets);
        buckets.Where(b => b.Count > 0).Should().Equal((0.05, 1L));
    }

    [Fact]
    public async Task Meter_FactoryThrows_ExportsErrorCounter()
    {
        var act = async () => await _cache.GetOrCreateAsync<int>("k", _ => throw new InvalidOperationException("boom"));
        await act.Should().ThrowAsync<InvalidOperationException>();

        var errors = _otel.CollectMetrics()["stampedeguard.factory.errors"];

        errors.Unit.Should().Be("{error}");
        errors.SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long> { [string.Empty] = 1 });
    }

    [Fact]
    public async Task Span_FactoryRun_IsOneInternalStampedeguardFactorySpanWithRefreshFalse()
    {
        await _cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));
        await _cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2)); // a hit: no span

        var span = _otel.Spans.Should().ContainSingle().Subject;

        (span.DisplayName, span.Kind, span.Source.Name, span.Status).Should().Be(("stampedeguard.factory", ActivityKind.Internal, "StampedeGuard", ActivityStatusCode.Unset));
        span.TagObjects.Should().BeEquivalentTo(new Dictionary<string, object?> { ["stampedeguard.refresh"] = false });
    }

    [Fact]
    public async Task Span_FactoryThrows_HasErrorStatusWithTheExceptionTypeName()
    {
        var act = async () => await _cache.GetOrCreateAsync<int>("k", _ => throw new InvalidOperationException("secret detail"));
        await act.Should().ThrowAsync<InvalidOperationException>();

        var span = _otel.Spans.Should().ContainSingle().Subject;

        (span.DisplayName, span.Status, span.StatusDescription).Should().Be(("stampedeguard.factory", ActivityStatusCode.Error, nameof(InvalidOperationException)));
    }

    [Fact]
    public async Task Span_StaleHitRefreshesInBackground_HasRefreshTrue()
    {
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(10), StaleWhileRevalidate = TimeSpan.FromMinutes(1) };
        await _cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), options);
        _time.Advance(TimeSpan.FromSeconds(11));

        (await _cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2), options)).Should().Be(1);
        await Poll.UntilAsync(() => _otel.Spans.Count == 2, "the background refresh's span ended");

        _otel.Spans.Select(s => (s.DisplayName, s.GetTagItem("stampedeguard.refresh")))
            .Should().Equal(("stampedeguard.factory", false), ("stampedeguard.factory", true));
    }

    public void Dispose()
    {
        _cache.Dispose();
        _services.Dispose();
        _otel.Dispose();
    }
}
