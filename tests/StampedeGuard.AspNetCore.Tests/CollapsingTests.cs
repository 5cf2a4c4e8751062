using System.Net;
using System.Text;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.TestSupport;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

public sealed class CollapsingTests
{
    [Fact]
    public async Task Get_500ConcurrentMisses_OneOriginExecution()
    {
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/hot", async ctx =>
            {
                using var _ = origin.Enter();
                await gate.Task;
                ctx.Response.Headers.CacheControl = "max-age=60";
                await ctx.Response.WriteAsync("hot");
            }),
            beforeCache: app => app.Use(async (ctx, next) =>
            {
                if (Interlocked.Increment(ref arrived) == 500)
                {
                    gate.TrySetResult();
                }

                await next(ctx);
            }));

        var responses = await Task.WhenAll(Enumerable.Range(0, 500).Select(_ => host.Client.GetBodyAsync("/hot")));

        origin.Executions.Should().Be(1);
        responses.Should().OnlyContain(r => r.Response.StatusCode == HttpStatusCode.OK && r.Body == "hot");
        responses.Count(r => r.Response.CacheStatus().Contains("collapsed")).Should().BeGreaterThan(0);
        // Every request led, joined or hit. (A request that looked up just before the store and led a new flight just
        // after the first one finished counts as a miss, but its double-checked store read answers it: still 1 execution.)
        (host.Count("miss") + host.Count("collapsed") + host.Count("hit")).Should().Be(500);
    }

    [Fact]
    public async Task Get_SlowStreamingOrigin_WaitersGetFirstBytesBeforeTheBodyEnds()
    {
        var origin = new Origin();
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(app => app.MapGet("/slow", async ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("first|");
            await ctx.Response.Body.FlushAsync();
            await rest.Task; // the origin is still producing the body
            await ctx.Response.WriteAsync("rest");
        }));

        var leader = await host.Client.GetAsync("/slow", HttpCompletionOption.ResponseHeadersRead);
        var leaderBody = await leader.Content.ReadAsStreamAsync();
        (await ReadExactlyAsync(leaderBody, 6)).Should().Be("first|");

        var waiters = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            var response = await host.Client.GetAsync("/slow", HttpCompletionOption.ResponseHeadersRead);
            var stream = await response.Content.ReadAsStreamAsync();
            var first = await ReadExactlyAsync(stream, 6);
            return (response, stream, first);
        }));

        // Every waiter has headers and the first bytes while the origin has not finished the body.
        rest.Task.IsCompleted.Should().BeFalse();
        waiters.Should().OnlyContain(w => w.first == "first|" && w.response.CacheStatus().Contains("collapsed"));

        rest.SetResult();
        foreach (var (_, stream, _) in waiters)
        {
            (await new StreamReader(stream).ReadToEndAsync()).Should().Be("rest");
        }

        (await new StreamReader(leaderBody).ReadToEndAsync()).Should().Be("rest");
        origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_LeaderClientNeverReads_WaitersStillGetTheWholeBody()
    {
        var origin = new Origin();
        var payload = new byte[4 * 1024 * 1024];
        Random.Shared.NextBytes(payload);
        var waitersJoined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/big", async ctx =>
            {
                using var _ = origin.Enter();
                ctx.Response.Headers.CacheControl = "max-age=60";
                ctx.Response.ContentLength = payload.Length;
                await ctx.Response.Body.WriteAsync(payload.AsMemory(0, 1024));
                await waitersJoined.Task;
                for (var i = 1024; i < payload.Length; i += 64 * 1024)
                {
                    await ctx.Response.Body.WriteAsync(payload.AsMemory(i, Math.Min(64 * 1024, payload.Length - i)));
                }
            }),
            o => o.MaximumBodySize = 8 * 1024 * 1024);

        // The leader's client reads its headers and then stalls: it never reads the body.
        using var leaderClient = TestHost.NewClient(host.Address);
        using var leader = await leaderClient.GetAsync("/big", HttpCompletionOption.ResponseHeadersRead);
        var waiterTasks = Enumerable.Range(0, 5).Select(_ => host.Client.GetByteArrayAsync("/big")).ToArray();
        await WaitUntilAsync(() => host.Count("collapsed") == 5); // all five are attached to the leader's flight
        waitersJoined.SetResult();

        var bodies = await Task.WhenAll(waiterTasks).WaitAsync(TimeSpan.FromSeconds(30));
        bodies.Should().OnlyContain(b => Enumerable.SequenceEqual(b, payload));
        origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_WaiterDisconnectsMidStream_OthersAndTheOriginCarryOn()
    {
        var origin = new Origin();
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var originCancelled = false;
        await using var host = await TestHost.StartAsync(app => app.MapGet("/stream", async ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("a");
            await rest.Task;
            originCancelled = ctx.RequestAborted.IsCancellationRequested;
            await ctx.Response.WriteAsync("b");
        }));

        var leader = await host.Client.GetAsync("/stream", HttpCompletionOption.ResponseHeadersRead);
        var leaderStream = await leader.Content.ReadAsStreamAsync();
        (await ReadExactlyAsync(leaderStream, 1)).Should().Be("a");

        using (var quitterClient = TestHost.NewClient(host.Address))
        {
            var quitter = await quitterClient.GetAsync("/stream", HttpCompletionOption.ResponseHeadersRead);
            var quitterStream = await quitter.Content.ReadAsStreamAsync();
            (await ReadExactlyAsync(quitterStream, 1)).Should().Be("a");
            quitter.Dispose(); // disconnects mid-body
        }

        var other = await host.Client.GetAsync("/stream", HttpCompletionOption.ResponseHeadersRead);
        var otherStream = await other.Content.ReadAsStreamAsync();
        rest.SetResult();

        (await new StreamReader(otherStream).ReadToEndAsync()).Should().Be("ab");
        (await new StreamReader(leaderStream).ReadToEndAsync()).Should().Be("b");
        originCancelled.Should().BeFalse();
        origin.Executions.Should().Be(1);
        (await host.Client.GetBodyAsync("/stream")).Body.Should().Be("ab");
        origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_LeaderDisconnects_OriginIsNotCancelledForTheWaiters()
    {
        var origin = new Origin();
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = false;
        await using var host = await TestHost.StartAsync(app => app.MapGet("/lead", async ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("a");
            await rest.Task;
            cancelled = ctx.RequestAborted.IsCancellationRequested;
            await ctx.Response.WriteAsync("b");
        }));

        var leaderClient = TestHost.NewClient(host.Address);
        var leader = await leaderClient.GetAsync("/lead", HttpCompletionOption.ResponseHeadersRead);
        await origin.Entered.Task;
        var waiter = await host.Client.GetAsync("/lead", HttpCompletionOption.ResponseHeadersRead);
        await WaitUntilAsync(() => host.Count("collapsed") == 1);
        leader.Dispose();
        leaderClient.Dispose();
        await Task.Delay(50); // let the disconnect reach the server (if it doesn't, the test proves less, never wrongly fails)
        rest.SetResult();

        (await waiter.Content.ReadAsStringAsync()).Should().Be("ab");
        cancelled.Should().BeFalse();
        origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_UncacheableUnderTwoWaves_AllOriginCallsRunConcurrently()
    {
        const int wave = 20;
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(app => app.MapGet("/private", async ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.Headers.CacheControl = "private, max-age=60";
            await ctx.Response.StartAsync(); // headers known: the cache can detach the waiters now
            if (origin.Concurrent >= Volatile.Read(ref waveTarget))
            {
                gate.TrySetResult();
            }

            await gate.Task.WaitAsync(TimeSpan.FromSeconds(20)); // fails the test if the calls were serialised
            await ctx.Response.WriteAsync("mine");
        }));

        waveTarget = wave;
        var first = await Task.WhenAll(Enumerable.Range(0, wave).Select(_ => host.Client.GetBodyAsync("/private")));
        first.Should().OnlyContain(r => r.Response.StatusCode == HttpStatusCode.OK && r.Body == "mine");
        origin.MaxConcurrent.Should().Be(wave);

        gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = await Task.WhenAll(Enumerable.Range(0, wave).Select(_ => host.Client.GetBodyAsync("/private")));
        second.Should().OnlyContain(r => r.Body == "mine" && r.Response.CacheStatus().Contains("fwd=bypass") && r.Response.CacheStatus().Contains("hit-for-pass"));
        origin.Executions.Should().Be(2 * wave);
    }

    private static int waveTarget = int.MaxValue;

    [Fact]
    public async Task Get_LeaderWithAuthorization_AnonymousWaitersDetachWithoutHitForPass()
    {
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(app => app.MapGet("/acct", async ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.StartAsync();
            if (ctx.Request.Headers.Authorization.Count > 0)
            {
                await gate.Task; // the leader's body is slow; the waiters must not wait for it
            }

            await ctx.Response.WriteAsync(ctx.Request.Headers.Authorization.Count > 0 ? "alice" : "anonymous");
        }));

        var leader = host.Client.GetBodyAsync("/acct", ("Authorization", "Bearer alice"));
        await origin.Entered.Task;
        await WaitUntilAsync(() => host.Count("miss") == 1);
        var waiters = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => host.Client.GetBodyAsync("/acct")));
        waiters.Should().OnlyContain(w => w.Body == "anonymous" && w.Response.CacheStatus().Contains("detail=authorization"));
        gate.SetResult();
        (await leader).Body.Should().Be("alice");

        var next = await host.Client.GetAsync("/acct");
        next.CacheStatus().Should().Contain("stored"); // no hit-for-pass: the URL itself is cacheable
        (await host.Client.GetBodyAsync("/acct")).Body.Should().Be("anonymous");
    }

    [Fact]
    public async Task Get_OriginThrows_WaitersShareTheOneFailure()
    {
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(app => app.MapGet("/boom", async ctx =>
        {
            using var _ = origin.Enter();
            await gate.Task;
            throw new InvalidOperationException("origin down");
        }));

        var tasks = Enumerable.Range(0, 50).Select(_ => host.Client.GetAsync("/boom")).ToArray();
        await WaitUntilAsync(() => host.Count("collapsed") == 49);
        gate.SetResult();
        var responses = await Task.WhenAll(tasks);

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.InternalServerError);
        origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_RetryOnceMode_WaitersMakeOneCollapsedRetry()
    {
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/flaky", async ctx =>
            {
                using var _ = origin.Enter();
                await gate.Task;
                if (origin.Executions == 1)
                {
                    ctx.Response.StatusCode = 503;
                    return;
                }

                ctx.Response.Headers.CacheControl = "max-age=60";
                await ctx.Response.WriteAsync("ok");
            }),
            o => o.FailureMode = OriginFailureMode.RetryOnce);

        var tasks = Enumerable.Range(0, 30).Select(_ => host.Client.GetBodyAsync("/flaky")).ToArray();
        await WaitUntilAsync(() => host.Count("collapsed") == 29);
        gate.SetResult();
        var responses = await Task.WhenAll(tasks);

        origin.Executions.Should().Be(2);
        responses.Count(r => r.Response.StatusCode == HttpStatusCode.ServiceUnavailable).Should().Be(1); // the leader's own
        responses.Count(r => r.Body == "ok").Should().Be(29);
    }

    [Fact]
    public async Task Get_5xxWithoutFreshness_SharedWithWaitersButNotStored()
    {
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(app => app.MapGet("/503", async ctx =>
        {
            using var _ = origin.Enter();
            await gate.Task;
            ctx.Response.StatusCode = 503;
        }));

        var tasks = Enumerable.Range(0, 30).Select(_ => host.Client.GetAsync("/503")).ToArray();
        await WaitUntilAsync(() => host.Count("collapsed") == 29);
        gate.SetResult();
        (await Task.WhenAll(tasks)).Should().OnlyContain(r => r.StatusCode == HttpStatusCode.ServiceUnavailable);
        origin.Executions.Should().Be(1);

        await host.Client.GetAsync("/503");
        origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_5xxWithMaxAge_StoredAndReusedLikeAnyResponse()
    {
        var origin = new Origin();
        await using var host = await TestHost.StartAsync(app => app.MapGet("/503", ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.StatusCode = 503;
            ctx.Response.Headers.CacheControl = "max-age=60";
            return Task.CompletedTask;
        }));

        await host.Client.GetAsync("/503");
        var second = await host.Client.GetAsync("/503");
        second.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        second.CacheStatus().Should().Contain("hit");
        origin.Executions.Should().Be(1);
    }

    [Theory]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    [InlineData(599)]
    public async Task Get_5xxWithNegativeCaching_NeverStoredWithoutItsOwnFreshness(int status)
    {
        var origin = new Origin();
        await using var host = await StartStatusOriginAsync(origin, status, TimeSpan.FromSeconds(30));

        await host.Client.GetAsync("/err");
        var second = await host.Client.GetAsync("/err");
        ((int)second.StatusCode).Should().Be(status);
        second.CacheStatus().Should().NotContain("hit");
        origin.Executions.Should().Be(2);
    }

    [Theory]
    [InlineData(404)]
    [InlineData(501)]
    public async Task Get_HeuristicErrorWithNegativeCaching_StoredBriefly(int status)
    {
        var time = new FakeTimeProvider();
        var origin = new Origin();
        await using var host = await StartStatusOriginAsync(origin, status, TimeSpan.FromSeconds(2), time);

        await host.Client.GetAsync("/err");
        var second = await host.Client.GetAsync("/err");
        ((int)second.StatusCode).Should().Be(status);
        second.CacheStatus().Should().Contain("hit");
        origin.Executions.Should().Be(1);

        time.Advance(TimeSpan.FromSeconds(3));
        await host.Client.GetAsync("/err");
        origin.Executions.Should().Be(2);
    }

    /// <summary>
    /// The HTTP face of the history checker's StopWorker violation: an instance whose backplane reset it (a paused
    /// process, a broken subscription: invalidations may have been missed) must not let a later request join an origin
    /// execution begun before the reset once that execution is older than the backplane's trust period (a purge this
    /// instance never heard may have superseded it); it gets an execution of its own. Without a reset it joins.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Get_ExecutionBegunBeforeANodeReset_JoinedOnlyWithoutTheReset(bool reset)
    {
        var time = new FakeTimeProvider();
        var backplane = new TestBackplane();
        using var engine = new StampedeCache(new StampedeCacheOptions { TimeProvider = time }, backplane: backplane);
        backplane.Alive(TimeSpan.FromSeconds(1));
        var origin = new Origin();
        var executions = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/p", async ctx =>
            {
                using var _ = origin.Enter();
                var execution = Interlocked.Increment(ref executions);
                ctx.Response.Headers.CacheControl = "max-age=60";
                if (execution == 1)
                {
                    await gate.Task;
                }

                await ctx.Response.WriteAsync("v" + execution);
            }),
            time: time,
            services: s => s.AddSingleton<IStampedeCache>(engine));

        var first = host.Client.GetBodyAsync("/p");
        await origin.Entered.Task; // the execution began its write condition before it asked the origin
        if (reset)
        {
            backplane.Reset();
        }

        time.Advance(TimeSpan.FromSeconds(1.5));
        backplane.Alive(TimeSpan.FromSeconds(1)); // heard again: only the reset matters
        var second = host.Client.GetBodyAsync("/p");
        if (reset)
        {
            var answered = await Task.WhenAny(second, Task.Delay(TimeSpan.FromSeconds(15)));
            answered.Should().BeSameAs(second, "an execution of its own answers while the old one is held (origin executions {0}, collapsed {1}, misses {2})", executions, host.Count("collapsed"), host.Count("miss"));
            (await second).Body.Should().Be("v2");
        }
        else
        {
            await WaitUntilAsync(() => host.Count("collapsed") == 1);
        }

        gate.SetResult();
        (await first).Body.Should().Be("v1");
        (await second).Body.Should().Be(reset ? "v2" : "v1");
        executions.Should().Be(reset ? 2 : 1);
    }

    /// <summary>A backplane with no other node: the test raises what a real one raises to its own node.</summary>
    private sealed class TestBackplane : StampedeGuard.Distributed.IStampedeBackplane
    {
        private Action<StampedeGuard.Distributed.BackplaneMessage>? _handler;

        public void Reset() => _handler!(new() { Kind = StampedeGuard.Distributed.BackplaneMessageKind.Reset, Key = string.Empty });

        public void Alive(TimeSpan trust) => _handler!(new() { Kind = StampedeGuard.Distributed.BackplaneMessageKind.Alive, Timestamp = trust.Ticks });

        public ValueTask PublishAsync(StampedeGuard.Distributed.BackplaneMessage message, CancellationToken cancellationToken) => default;

        public IDisposable Subscribe(Action<StampedeGuard.Distributed.BackplaneMessage> handler)
        {
            _handler = handler;
            return new CancellationTokenSource();
        }
    }

    [Fact]
    public async Task Get_LeaderHangs_WaiterGets504AfterWaiterTimeoutAndSendsNoRequestOfItsOwn()
    {
        // Issue 17.5: a waiter that went to the origin itself after WaiterTimeout turned every outage into a stampede.
        var time = new FakeTimeProvider();
        var origin = new Origin();
        var hang = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/hang", async ctx =>
            {
                using var _ = origin.Enter();
                await hang.Task;
                ctx.Response.Headers.CacheControl = "max-age=60";
                await ctx.Response.WriteAsync("x");
            }),
            o => o.WaiterTimeout = TimeSpan.FromSeconds(5),
            time);

        var leader = host.Client.GetAsync("/hang");
        await origin.Entered.Task;
        var waiter = host.Client.GetBodyAsync("/hang");
        await WaitUntilAsync(() => host.Count("collapsed") == 1 && time.ActiveTimers > 1); // the origin's deadline and the waiter's
        time.Advance(TimeSpan.FromSeconds(6));

        var (response, body) = await waiter;
        response.StatusCode.Should().Be(HttpStatusCode.GatewayTimeout);
        response.CacheStatus().Should().Be("StampedeGuard; fwd=uri-miss; collapsed; detail=waiter-timeout");
        response.Headers.CacheControl!.NoStore.Should().BeTrue();
        body.Should().BeEmpty();
        origin.Executions.Should().Be(1);
        hang.SetResult();
        var led = await leader;
        led.StatusCode.Should().Be(HttpStatusCode.OK);
        led.CacheStatus().Should().Contain("stored");
        origin.Executions.Should().Be(1);
        origin.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task Get_StaleIfErrorAndLeaderHangs_WaiterGetsTheStaleResponseAfterWaiterTimeout()
    {
        var time = new FakeTimeProvider();
        var origin = new Origin();
        var hang = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/sie", async ctx =>
            {
                using var _ = origin.Enter();
                if (origin.Executions > 1)
                {
                    await hang.Task;
                }

                ctx.Response.Headers.CacheControl = "max-age=10, stale-if-error=60";
                await ctx.Response.WriteAsync("v" + origin.Executions);
            }),
            o => o.WaiterTimeout = TimeSpan.FromSeconds(5),
            time);

        (await host.Client.GetAsync("/sie")).CacheStatus().Should().Contain("stored");
        time.Advance(TimeSpan.FromSeconds(11));
        var leader = host.Client.GetBodyAsync("/sie");
        await WaitUntilAsync(() => origin.Executions == 2);
        var waiter = host.Client.GetBodyAsync("/sie");
        await WaitUntilAsync(() => host.Count("collapsed") == 1 && time.ActiveTimers > 1);
        time.Advance(TimeSpan.FromSeconds(6));

        var (response, body) = await waiter;
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        body.Should().Be("v1");
        response.CacheStatus().Should().Be("StampedeGuard; fwd=stale; ttl=-7; collapsed; detail=stale-if-error");
        hang.SetResult();
        (await leader).Body.Should().Be("v2");
        origin.Executions.Should().Be(2);
        origin.MaxConcurrent.Should().Be(1);
    }

    internal static async Task<string> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        return Encoding.UTF8.GetString(buffer);
    }

    private static Task<TestHost> StartStatusOriginAsync(Origin origin, int status, TimeSpan negativeCacheDuration, TimeProvider? time = null) =>
        TestHost.StartAsync(
            app => app.MapGet("/err", ctx =>
            {
                using var _ = origin.Enter();
                ctx.Response.StatusCode = status;
                return Task.CompletedTask;
            }),
            o => o.NegativeCacheDuration = negativeCacheDuration,
            time);

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition was not met in 10 s.");
            }

            await Task.Delay(10);
        }
    }
}
