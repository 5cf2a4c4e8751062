using System.Diagnostics;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task GetOrCreateAsync_CallersWaitTwoSecondsOnFakeClock_WaitDurationRecordedInSeconds()
    {
        using var h = new CacheHarness();
        var factory = new GatedFactory<string>();
        var calls = Enumerable.Range(0, 3).Select(_ => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask()).ToList();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Metrics.TotalRequests == 3, "three callers on one flight");

        h.Clock.Advance(TimeSpan.FromSeconds(2));
        factory.Release("v");
        await Poll.Within(Task.WhenAll(calls), "the callers");
        await Poll.UntilAsync(() => h.Metrics.Recorded("stampedeguard.wait.duration").Count >= 3, "the waits recorded (the run records its waiters' on the thread pool)");

        h.Metrics.Recorded("stampedeguard.wait.duration").Should().HaveCount(3).And.OnlyContain(s => Math.Abs(s - 2.0) < 1e-9);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task GetOrCreateAsync_ListenedTo_EveryCallerOfTheRunRecordsItsWaitWhetherItCanCancelOrNot(bool cancellable, bool runFails)
    {
        // Callers that cannot cancel wait on the shared answer (their waits recorded by the flight when it answers);
        // cancellable ones take their own timed wait. Both are counted, with a value and with a failure alike.
        using var h = new CacheHarness();
        using var cts = new CancellationTokenSource();
        var token = cancellable ? cts.Token : CancellationToken.None;
        var factory = new GatedFactory<string>();
        var calls = Enumerable.Range(0, 50).Select(_ => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: token).AsTask()).ToList();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Metrics.TotalRequests == 50, "fifty callers on one flight");

        h.Clock.Advance(TimeSpan.FromSeconds(3));
        if (runFails)
        {
            factory.Fail(new InvalidOperationException("origin down"));
        }
        else
        {
            factory.Release("v");
        }

        await Poll.Within(Task.WhenAll(calls).ContinueWith(_ => 0, TaskScheduler.Default), "the callers");
        calls.Should().OnlyContain(c => runFails ? c.IsFaulted : c.IsCompletedSuccessfully);
        await Poll.UntilAsync(() => h.Metrics.Recorded("stampedeguard.wait.duration").Count >= 50, "the waits recorded");
        h.Metrics.Recorded("stampedeguard.wait.duration").Should().HaveCount(50).And.OnlyContain(s => Math.Abs(s - 3.0) < 1e-9);
    }

    [Fact]
    public async Task GetOrCreateAsync_WaitHistogramListenerThrows_CallersGetTheirValueAndTheProcessGoesOn()
    {
        // The run records its waiters' waits on the thread pool: an exception there would end the process.
        using var cache = UnobservedCache();
        var recorded = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, cache.Meter) && instrument.Name == "stampedeguard.wait.duration")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((_, _, _, _) =>
        {
            Interlocked.Increment(ref recorded);
            throw new InvalidOperationException("a broken metrics listener");
        });
        listener.Start();
        var factory = new GatedFactory<string>();
        var calls = Enumerable.Range(0, 10).Select(_ => cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask()).ToArray();

        factory.Release("v");

        (await Poll.Within(Task.WhenAll(calls), "the callers")).Should().OnlyContain(v => v == "v");
        await Poll.UntilAsync(() => Volatile.Read(ref recorded) >= 1, "the recording ran (and threw)");
        (await cache.GetOrCreateAsync("k", factory.InvokeAsync)).Should().Be("v", "the cache goes on");
    }

    [Fact]
    public async Task GetOrCreateAsync_SkipDistributedCache_NothingWrittenToL2()
    {
        var l2 = CacheHarness.NewL2();
        using var h = new CacheHarness(o => o.SkipDistributedCache = true, l2: l2);

        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        (await l2.GetAsync("k")).Should().BeNull();
    }

    [Fact]
    public async Task RemoveByTagAsync_Star_InvalidatesEveryEntry()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(1));
        await h.Cache.GetOrCreateAsync("b", _ => ValueTask.FromResult(1), Tagged("x"));
        h.Clock.Advance(TimeSpan.FromSeconds(1));

        await h.Cache.RemoveByTagAsync("*");
        h.Clock.Advance(TimeSpan.FromSeconds(1));

        (await h.Cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(2))).Should().Be(2);
        (await h.Cache.GetOrCreateAsync("b", _ => ValueTask.FromResult(2), Tagged("x"))).Should().Be(2);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryRun_TracedAsChildOfCallersActivity()
    {
        using var source = new ActivitySource("StampedeGuard.Tests." + Guid.NewGuid().ToString("N"));
        var stopped = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "StampedeGuard" || s.Name == source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var h = new CacheHarness();

        using (var parent = source.StartActivity("request"))
        {
            await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));
            stopped.Should().Contain(a => a.Source.Name == "StampedeGuard" && a.ParentSpanId == parent!.SpanId);
        }
    }

    [Fact]
    public async Task GetOrCreateAsync_MissWithValueInFailSafeWindow_FactoryContextCarriesStaleValueAndAge()
    {
        using var h = FailSafeHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("etag-1"));
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        (bool, string?, TimeSpan?, string) seen = default;

        await h.Cache.GetOrCreateAsync<int, string>("k", 0, (_, context, _) =>
        {
            seen = (context.HasStaleValue, context.StaleValue, context.StaleAge, context.Key);
            return ValueTask.FromResult("etag-2");
        });

        seen.Should().Be((true, "etag-1", TimeSpan.FromSeconds(30), "k"));
    }

    [Fact]
    public async Task GetOrCreateAsync_MissWithoutPreviousValue_FactoryContextHasNoStaleValue()
    {
        using var h = new CacheHarness();
        (bool, string?, TimeSpan?) seen = (true, "x", TimeSpan.Zero);

        await h.Cache.GetOrCreateAsync<int, string>("k", 0, (_, context, _) =>
        {
            seen = (context.HasStaleValue, context.StaleValue, context.StaleAge);
            return ValueTask.FromResult("v");
        });

        seen.Should().Be((false, null, null));
    }

    [Fact]
    public async Task GetOrCreateAsync_ThousandCallersFactoryThrew_NoFlightLeftAndNextCallRunsAgain()
    {
        using var h = new CacheHarness();
        var factory = new GatedFactory<string>();
        var calls = await StartConcurrentAsync(Callers, () => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask());
        await Poll.UntilAsync(() => h.Metrics.TotalRequests == Callers, "every caller joined");
        factory.Fail(new InvalidOperationException("down"));
        await Poll.Within(Task.WhenAll(calls).ContinueWith(_ => { }, TaskScheduler.Default), "the callers");

        h.Cache.FlightCount.Should().Be(0);
        var next = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 2, "a new run started");
        factory.Release("v");
        (await Poll.Within(next, "the next caller")).Should().Be("v");
    }
}
