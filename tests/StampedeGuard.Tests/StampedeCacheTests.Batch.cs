using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static Task<IReadOnlyDictionary<string, string>> Many(CacheHarness h, GatedBatchFactory factory, string[] keys, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default) =>
        h.Cache.GetOrCreateManyAsync<string>(keys, factory.InvokeAsync, options, cancellationToken).AsTask();

    [Fact]
    public async Task GetOrCreateManyAsync_SomeKeysInL1_FactoryCalledOnceWithOnlyTheMissingKeys()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("a", _ => ValueTask.FromResult("l1:a"));
        await h.Cache.GetOrCreateAsync("b", _ => ValueTask.FromResult("l1:b"));
        var factory = new GatedBatchFactory();
        factory.Release();

        var result = await Poll.Within(Many(h, factory, ["a", "c", "b", "d"]), "the batch");

        factory.Received.Should().ContainSingle().Which.Keys.Should().Equal("c", "d");
        result.Should().BeEquivalentTo(new Dictionary<string, string> { ["a"] = "l1:a", ["b"] = "l1:b", ["c"] = "batch:c", ["d"] = "batch:d" });
        var again = await Poll.Within(Many(h, new GatedBatchFactory(), ["c", "d"]), "the second batch");
        again.Should().BeEquivalentTo(new Dictionary<string, string> { ["c"] = "batch:c", ["d"] = "batch:d" }, "the batch's values were stored");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_AllKeysInL1_CompletesSynchronouslyWithoutFactory()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("a", _ => ValueTask.FromResult("l1:a"));
        var factory = new GatedBatchFactory();

        var call = h.Cache.GetOrCreateManyAsync<string>(["a", "a"], factory.InvokeAsync);

        call.IsCompletedSuccessfully.Should().BeTrue();
        (await call).Should().BeEquivalentTo(new Dictionary<string, string> { ["a"] = "l1:a" });
        factory.Calls.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_KeysInSharedL2_NotPassedToFactory()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2);
        await writer.Cache.GetOrCreateAsync("a", _ => ValueTask.FromResult("l2:a"));
        await writer.Cache.GetOrCreateAsync("b", _ => ValueTask.FromResult("l2:b"));
        var factory = new GatedBatchFactory();
        factory.Release();

        var result = await Poll.Within(Many(reader, factory, ["a", "b", "c"]), "the batch");

        factory.Received.Should().ContainSingle().Which.Keys.Should().Equal("c");
        result.Should().BeEquivalentTo(new Dictionary<string, string> { ["a"] = "l2:a", ["b"] = "l2:b", ["c"] = "batch:c" });
    }

    [Fact]
    public async Task GetOrCreateManyAsync_DuplicateKeys_AskedForOnce()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();
        factory.Release();

        var result = await Poll.Within(Many(h, factory, ["x", "y", "x", "y", "x"]), "the batch");

        factory.Received.Should().ContainSingle().Which.Keys.Should().Equal("x", "y");
        result.Should().HaveCount(2);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_NoKeys_EmptyResultWithoutFactory()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();

        var result = await h.Cache.GetOrCreateManyAsync<string>([], factory.InvokeAsync);

        result.Should().BeEmpty();
        factory.Calls.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_SingleCallForAKeyWhileBatchFactoryRuns_JoinsTheBatchRun()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();
        var batch = Many(h, factory, ["x", "y"]);
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to start");
        var singleRuns = 0;

        var single = h.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult("single:" + Interlocked.Increment(ref singleRuns))).AsTask();
        await Poll.UntilAsync(() => h.Metrics.Requests("collapsed") == 1, "the single call to join the batch's run of x");
        factory.Release();

        (await Poll.Within(single, "the single call")).Should().Be("batch:x");
        (await Poll.Within(batch, "the batch")).Should().BeEquivalentTo(new Dictionary<string, string> { ["x"] = "batch:x", ["y"] = "batch:y" });
        singleRuns.Should().Be(0);
        factory.Calls.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_KeyAlreadyInFlight_JoinedAndLeftOutOfTheFactory()
    {
        using var h = new CacheHarness();
        var single = new GatedFactory<string>();
        var first = h.Cache.GetOrCreateAsync("x", single.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => single.Calls == 1, "the single call's factory to start");
        var factory = new GatedBatchFactory();

        var batch = Many(h, factory, ["x", "y"]);

        // The batch factory is called while x is still being computed: the batch did not wait for the key it joined.
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to start while x is in flight");
        factory.Received[0].Keys.Should().Equal("y");
        factory.Release();
        single.Release("single:x");
        (await Poll.Within(batch, "the batch")).Should().BeEquivalentTo(new Dictionary<string, string> { ["x"] = "single:x", ["y"] = "batch:y" });
        (await first).Should().Be("single:x");
        (single.Calls, factory.Calls).Should().Be((1, 1));
    }

    [Fact]
    public async Task GetOrCreateManyAsync_FactoryLeavesOutAKey_KeyAbsentNotCachedAndItsJoinedCallerFails()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();
        var batch = Many(h, factory, ["x", "y"]);
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to start");
        var joined = h.Cache.GetOrCreateAsync<string>("y", _ => throw new InvalidOperationException("must join")).AsTask();
        await Poll.UntilAsync(() => h.Metrics.Requests("collapsed") == 1, "a single call to join the batch's run of y");

        factory.Release(omit: "y");

        (await Poll.Within(batch, "the batch")).Should().BeEquivalentTo(new Dictionary<string, string> { ["x"] = "batch:x" });
        await FluentActions.Awaiting(() => Poll.Within(joined, "the joined call")).Should().ThrowAsync<KeyNotFoundException>();
        var runs = 0;
        (await h.Cache.GetOrCreateAsync("y", _ => ValueTask.FromResult("again:" + ++runs))).Should().Be("again:1", "nothing was stored for y");
        (await h.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult("again:x"))).Should().Be("batch:x", "x was stored");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_FactoryThrows_EveryLedKeyAndJoinedCallerGetsTheSameExceptionAndNothingIsStored()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();
        var batch = Many(h, factory, ["x", "y"]);
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to start");
        var joined = h.Cache.GetOrCreateAsync<string>("x", _ => throw new InvalidOperationException("must join")).AsTask();
        await Poll.UntilAsync(() => h.Metrics.Requests("collapsed") == 1, "a single call to join the batch's run of x");
        var boom = new InvalidOperationException("origin down");

        factory.Fail(boom);

        (await FluentActions.Awaiting(() => Poll.Within(batch, "the batch")).Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(boom);
        (await FluentActions.Awaiting(() => Poll.Within(joined, "the joined call")).Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(boom);
        (await h.Cache.GetOrCreateAsync("y", _ => ValueTask.FromResult("again:y"))).Should().Be("again:y");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_JoinedRunOfOneKeyFails_CallThrowsItButTheOtherKeysAreStored()
    {
        using var h = new CacheHarness();
        var single = new GatedFactory<string>();
        var first = h.Cache.GetOrCreateAsync("x", single.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => single.Calls == 1, "the single call's factory to start");
        var factory = new GatedBatchFactory();
        factory.Release();
        var batch = Many(h, factory, ["x", "y"]);
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to run for y");
        var boom = new InvalidOperationException("x failed");

        single.Fail(boom);

        (await FluentActions.Awaiting(() => Poll.Within(batch, "the batch")).Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(boom);
        await FluentActions.Awaiting(() => first).Should().ThrowAsync<InvalidOperationException>();
        (await h.Cache.GetOrCreateAsync("y", _ => ValueTask.FromResult("again:y"))).Should().Be("batch:y", "y's value was stored");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_CallerCancels_OnlyItsWaitEndsAndAJoinedCallerStillGetsTheValue()
    {
        using var h = new CacheHarness();
        using var cts = new CancellationTokenSource();
        var factory = new GatedBatchFactory();
        var batch = Many(h, factory, ["x", "y"], cancellationToken: cts.Token);
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to start");
        var joined = h.Cache.GetOrCreateAsync<string>("x", _ => throw new InvalidOperationException("must join")).AsTask();
        await Poll.UntilAsync(() => h.Metrics.Requests("collapsed") == 1, "a single call to join the batch's run of x");

        await cts.CancelAsync();

        (await FluentActions.Awaiting(() => Poll.Within(batch, "the cancelled batch")).Should().ThrowExactlyAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
        factory.Received[0].Token.IsCancellationRequested.Should().BeFalse("the joined caller still wants x");
        factory.Release();
        (await Poll.Within(joined, "the joined call")).Should().Be("batch:x");
        factory.Calls.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_CallerCancelsAndNobodyElseWaits_FactoryTokenCancelled()
    {
        using var h = new CacheHarness();
        using var cts = new CancellationTokenSource();
        var factory = new GatedBatchFactory();
        var batch = Many(h, factory, ["x", "y"], cancellationToken: cts.Token);
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to start");

        await cts.CancelAsync();

        await FluentActions.Awaiting(() => Poll.Within(batch, "the cancelled batch")).Should().ThrowExactlyAsync<OperationCanceledException>();
        await Poll.UntilAsync(() => factory.Received[0].Token.IsCancellationRequested, "the batch factory's token to be cancelled");
        factory.Release();
    }

    [Fact]
    public async Task GetOrCreateManyAsync_CancelledBeforeTheCall_ThrowsWithoutFactory()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();

        await FluentActions.Awaiting(() => Many(h, factory, ["x"], cancellationToken: new CancellationToken(canceled: true))).Should().ThrowExactlyAsync<OperationCanceledException>();
        factory.Calls.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_RemoveAsyncWhileFactoryRuns_BatchValueOfThatKeyIsNotStored()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();
        var batch = Many(h, factory, ["x", "y"]);
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to start");

        await h.Cache.RemoveAsync("x");
        factory.Release();

        (await Poll.Within(batch, "the batch")).Should().BeEquivalentTo(new Dictionary<string, string> { ["x"] = "batch:x", ["y"] = "batch:y" }, "a superseded run still answers its own callers");
        (await h.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult("after-remove"))).Should().Be("after-remove", "the invalidation wins: the batch's older value was not stored");
        (await h.Cache.GetOrCreateAsync("y", _ => ValueTask.FromResult("after-remove"))).Should().Be("batch:y");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_HardTimeout_EveryLedKeyTimesOutAndTheFactoryTokenIsCancelled()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(10), FactoryHardTimeout = TimeSpan.FromSeconds(1) };
        var batch = Many(h, factory, ["x", "y"], options);
        await Poll.UntilAsync(() => factory.Calls == 1, "the batch factory to start (on the thread pool: a timeout bounds it)");
        factory.Received[0].Keys.Should().BeEquivalentTo(["x", "y"]);

        h.Clock.Advance(TimeSpan.FromSeconds(1));

        await FluentActions.Awaiting(() => Poll.Within(batch, "the batch")).Should().ThrowAsync<StampedeFactoryTimeoutException>();
        await Poll.UntilAsync(() => factory.Received[0].Token.IsCancellationRequested, "the batch factory's token to be cancelled");
        factory.Release();
    }

    [Fact]
    public async Task GetOrCreateManyAsync_StaleKeys_ServedAtOnceAndRefreshedThroughTheBatchFactory()
    {
        using var h = new CacheHarness(e => { e.Duration = TimeSpan.FromSeconds(10); e.StaleWhileRevalidate = TimeSpan.FromMinutes(1); e.EarlyRefreshBeta = 0; });
        await h.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult("old:x"));
        h.Clock.Advance(TimeSpan.FromSeconds(11));
        var factory = new GatedBatchFactory();

        var result = await Poll.Within(Many(h, factory, ["x"]), "the batch");

        result.Should().BeEquivalentTo(new Dictionary<string, string> { ["x"] = "old:x" });
        await Poll.UntilAsync(() => factory.Calls == 1, "the background refresh to call the batch factory");
        factory.Release();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (await h.Cache.GetOrCreateAsync("x", _ => ValueTask.FromResult("never")) != "batch:x")
        {
            watch.Elapsed.Should().BeLessThan(Poll.Timeout, "the refreshed value is stored (stale hits meanwhile)");
            await Task.Delay(1);
        }

        factory.Calls.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateManyAsync_FactoryAsksForOneOfItsOwnKeys_ReentrancyErrorInsteadOfWaitingForItself()
    {
        using var h = new CacheHarness();

        var batch = h.Cache.GetOrCreateManyAsync<string>(["x", "y"], async (keys, ct) =>
        {
            var inner = await h.Cache.GetOrCreateAsync("y", _ => ValueTask.FromResult("inner"), cancellationToken: ct);
            return keys.ToDictionary(k => k, k => inner);
        }).AsTask();

        (await FluentActions.Awaiting(() => Poll.Within(batch, "the batch")).Should().ThrowAsync<InvalidOperationException>()).WithMessage("*'y'*re-entrant*");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_FactoryAsksForAKeyOutsideTheBatch_ComputedAsUsual()
    {
        using var h = new CacheHarness();

        var result = await Poll.Within(
            h.Cache.GetOrCreateManyAsync<string>(["x"], async (keys, ct) =>
            {
                var inner = await h.Cache.GetOrCreateAsync("other", _ => ValueTask.FromResult("inner"), cancellationToken: ct);
                return keys.ToDictionary(k => k, k => inner);
            }).AsTask(),
            "the batch");

        result.Should().BeEquivalentTo(new Dictionary<string, string> { ["x"] = "inner" });
    }

    [Fact]
    public async Task GetOrCreateManyAsync_AfterDispose_ObjectDisposedInTheTask()
    {
        var h = new CacheHarness();
        h.Dispose();
        var factory = new GatedBatchFactory();

        var call = h.Cache.GetOrCreateManyAsync<string>(["x"], factory.InvokeAsync);

        await FluentActions.Awaiting(() => call.AsTask()).Should().ThrowAsync<ObjectDisposedException>();
        factory.Calls.Should().Be(0);
    }

    [Fact]
    public void GetOrCreateManyAsync_InvalidArguments_ThrowNamingTheArgument()
    {
        using var h = new CacheHarness();
        var factory = new GatedBatchFactory();

        FluentActions.Invoking(() => h.Cache.GetOrCreateManyAsync<string>(null!, factory.InvokeAsync)).Should().Throw<ArgumentNullException>().WithParameterName("keys");
        FluentActions.Invoking(() => h.Cache.GetOrCreateManyAsync<string>(["a"], null!)).Should().Throw<ArgumentNullException>().WithParameterName("factory");
        FluentActions.Invoking(() => h.Cache.GetOrCreateManyAsync<string>(["a", null!], factory.InvokeAsync)).Should().Throw<ArgumentException>().WithParameterName("keys");
        FluentActions.Invoking(() => h.Cache.GetOrCreateManyAsync<string>(["a", ""], factory.InvokeAsync)).Should().Throw<ArgumentException>().WithParameterName("keys");
        FluentActions.Invoking(() => h.Cache.GetOrCreateManyAsync<string>(["a", "b\u0001"], factory.InvokeAsync)).Should().Throw<ArgumentException>().WithParameterName("keys");
        FluentActions.Invoking(() => h.Cache.GetOrCreateManyAsync<int, string>(["a"], 1, null!)).Should().Throw<ArgumentNullException>().WithParameterName("factory");
        factory.Calls.Should().Be(0);
    }
}
