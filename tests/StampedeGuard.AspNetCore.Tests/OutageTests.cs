using System.Diagnostics;
using System.Net;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.TestSupport;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>
/// An origin in an outage (5xx, exceptions, hangs): after a first failure, 20 concurrent requests for the URL keep
/// collapsing. The origin counts how many of its executions run at once; it must never be more than one per URL.
/// </summary>
public sealed class OutageTests
{
    private const int Wave = 20;
    private readonly Origin _origin = new();
    private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Answers the first request at once, later ones after the test opens the gate.</summary>
    private async Task GatedAsync(HttpContext ctx, Func<HttpContext, Task> respond)
    {
        using var _ = _origin.Enter();
        if (_origin.Executions > 1)
        {
            await _gate.Task;
        }

        await respond(ctx);
    }

    private async Task<HttpResponseMessage[]> WaveAsync(TestHost host, string path)
    {
        var collapsedBefore = host.Count("collapsed");
        var tasks = Enumerable.Range(0, Wave).Select(_ => host.Client.GetAsync(path)).ToArray();
        await CollapsingTests.WaitUntilAsync(() => host.Count("collapsed") - collapsedBefore == Wave - 1);
        _gate.TrySetResult();
        return await Task.WhenAll(tasks);
    }

    [Theory]
    [InlineData(503, "")]
    [InlineData(504, "no-store")] // what a proxy stamps on its own gateway errors: still a failure, never hit-for-pass
    [InlineData(502, "max-age=0")]
    public async Task Get_5xxThenTwentyConcurrent_OneOriginRequestAtATimeAndAllShareTheFailure(int status, string cacheControl)
    {
        await using var host = await TestHost.StartAsync(app => app.MapGet("/down", ctx => GatedAsync(ctx, c =>
        {
            c.Response.StatusCode = status;
            if (cacheControl.Length > 0)
            {
                c.Response.Headers.CacheControl = cacheControl;
            }

            return c.Response.WriteAsync("down");
        })));

        (await host.Client.GetAsync("/down")).StatusCode.Should().Be((HttpStatusCode)status);
        var responses = await WaveAsync(host, "/down");

        responses.Should().OnlyContain(r => (int)r.StatusCode == status);
        responses.Should().NotContain(r => r.CacheStatus().Contains("hit-for-pass"));
        _origin.Executions.Should().Be(2);
        _origin.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task Get_OriginThrowsThenTwentyConcurrent_OneOriginRequestAtATimeAndAllShareTheFailure()
    {
        await using var host = await TestHost.StartAsync(app => app.MapGet("/throws", ctx => GatedAsync(ctx, _ => throw new InvalidOperationException("origin down"))));

        (await host.Client.GetAsync("/throws")).StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        var responses = await WaveAsync(host, "/throws");

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.InternalServerError);
        _origin.Executions.Should().Be(2);
        _origin.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task Get_OriginHangsPastOriginTimeout_TwentyConcurrentShareOne504()
    {
        var time = new FakeTimeProvider();
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/hangs", async ctx =>
            {
                using var _ = _origin.Enter();
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted); // hangs until the cache gives up on it
            }),
            o => o.OriginTimeout = TimeSpan.FromSeconds(2),
            time);

        var first = host.Client.GetAsync("/hangs");
        await CollapsingTests.WaitUntilAsync(() => _origin.Concurrent == 1);
        time.Advance(TimeSpan.FromSeconds(2));
        (await first).StatusCode.Should().Be(HttpStatusCode.GatewayTimeout);
        await CollapsingTests.WaitUntilAsync(() => _origin.Concurrent == 0);

        var tasks = Enumerable.Range(0, Wave).Select(_ => host.Client.GetAsync("/hangs")).ToArray();
        await CollapsingTests.WaitUntilAsync(() => host.Count("collapsed") == Wave - 1 && _origin.Concurrent == 1);
        time.Advance(TimeSpan.FromSeconds(2));
        var responses = await Task.WhenAll(tasks);

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.GatewayTimeout && r.CacheStatus().Contains("detail=origin-timeout"));
        _origin.Executions.Should().Be(2);
        _origin.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public void Options_Defaults_FiniteOriginTimeoutAndWaiterTimeoutOfSixtySeconds()
    {
        var options = new StampedeResponseCachingOptions();

        options.OriginTimeout.Should().Be(TimeSpan.FromSeconds(60), "like Varnish's first_byte_timeout and nginx's proxy_read_timeout");
        options.WaiterTimeout.Should().Be(options.OriginTimeout, "by default every waiter gets its flight's own answer");
    }

    [Fact]
    public async Task Get_OriginHoldsThenAbortsTheRequest_OneThenAWaveOfTen_OneOriginRequestAndEveryClientIsAbortedAndNothingStored()
    {
        // The in-process counterpart of an origin dropping the connection: the app (or a forwarder) aborts its request.
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(app => app.MapGet("/drops", async ctx =>
        {
            using var _ = _origin.Enter();
            if (_origin.Executions == 1)
            {
                await hold.Task;
                ctx.Response.Headers.CacheControl = "max-age=60";
                await ctx.Response.WriteAsync("partial");
                ctx.Abort();
                return;
            }

            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("whole");
        }));

        var first = host.Client.GetAsync("/drops", HttpCompletionOption.ResponseContentRead);
        await _origin.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var wave = Enumerable.Range(0, 10).Select(_ => host.Client.GetAsync("/drops", HttpCompletionOption.ResponseContentRead)).ToArray();
        await CollapsingTests.WaitUntilAsync(() => host.Count("collapsed") == 10);
        var released = Stopwatch.StartNew();
        hold.SetResult();

        foreach (var response in wave.Prepend(first))
        {
            await response.Invoking(r => r).Should().ThrowAsync<HttpRequestException>("every client of the flight sees the broken response, none a short one");
        }

        released.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10));
        _origin.Executions.Should().Be(1);
        var next = await host.Client.GetAsync("/drops");
        (await next.Content.ReadAsStringAsync()).Should().Be("whole", "the broken response was not stored");
        _origin.Executions.Should().Be(2);
        _origin.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task Get_OriginNeverAnswers_OneThenAWaveOfTen_EveryClientGetsThe504AtOriginTimeoutFromOneOriginRequest()
    {
        var originTimeout = TimeSpan.FromSeconds(1);
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/never", async ctx =>
            {
                using var _ = _origin.Enter();
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
            }),
            o => o.OriginTimeout = originTimeout);

        var started = Stopwatch.StartNew();
        var first = host.Client.GetAsync("/never");
        await _origin.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var wave = Enumerable.Range(0, 10).Select(_ => host.Client.GetAsync("/never")).ToArray();
        await CollapsingTests.WaitUntilAsync(() => host.Count("collapsed") == 10);

        var leader = await first;
        var waiters = await Task.WhenAll(wave);
        started.Elapsed.Should().BeLessThan(originTimeout + TimeSpan.FromSeconds(10));
        leader.StatusCode.Should().Be(HttpStatusCode.GatewayTimeout);
        leader.CacheStatus().Should().Be("StampedeGuard; fwd=uri-miss; detail=origin-timeout");
        waiters.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.GatewayTimeout && r.CacheStatus() == "StampedeGuard; fwd=uri-miss; collapsed; detail=origin-timeout");
        await CollapsingTests.WaitUntilAsync(() => _origin.Concurrent == 0); // the hung execution's token was cancelled
        _origin.Executions.Should().Be(1);
        _origin.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task Get_WaitersOutOfPatienceWhileTheOriginHangs_EachGetsA504AndTheNextWaveStillJoins_OneOriginRequest()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/slow", async ctx =>
            {
                using var _ = _origin.Enter();
                await release.Task.WaitAsync(ctx.RequestAborted);
                ctx.Response.Headers.CacheControl = "max-age=60";
                await ctx.Response.WriteAsync("late");
            }),
            o =>
            {
                o.WaiterTimeout = TimeSpan.FromMilliseconds(500);
                o.OriginTimeout = TimeSpan.FromSeconds(30);
            });

        var first = host.Client.GetBodyAsync("/slow");
        await _origin.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        for (var round = 1; round <= 2; round++)
        {
            var started = Stopwatch.StartNew();
            var wave = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => host.Client.GetAsync("/slow")));

            started.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10.5));
            wave.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.GatewayTimeout && r.CacheStatus() == "StampedeGuard; fwd=uri-miss; collapsed; detail=waiter-timeout");
            host.Count("collapsed").Should().Be(round * 10);
            _origin.Executions.Should().Be(1, "a waiter that gives up never sends a request of its own");
        }

        release.SetResult();
        (await first).Body.Should().Be("late");
        (await host.Client.GetAsync("/slow")).CacheStatus().Should().Contain("hit");
        _origin.Executions.Should().Be(1);
        _origin.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task Get_OutageWithStaleIfError_TwentyConcurrentGetTheStaleResponseFromOneOriginRequest()
    {
        var time = new FakeTimeProvider();
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/sie", ctx => GatedAsync(ctx, c =>
            {
                if (_origin.Executions == 1)
                {
                    c.Response.Headers.CacheControl = "max-age=10, stale-if-error=60";
                    return c.Response.WriteAsync("good");
                }

                c.Response.StatusCode = 503;
                return Task.CompletedTask;
            })),
            time: time);

        (await host.Client.GetAsync("/sie")).StatusCode.Should().Be(HttpStatusCode.OK);
        time.Advance(TimeSpan.FromSeconds(11));
        var responses = await WaveAsync(host, "/sie");

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.OK && r.CacheStatus().Contains("stale-if-error"));
        (await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync()))).Should().OnlyContain(b => b == "good");
        _origin.Executions.Should().Be(2);
        _origin.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task Get_ConcurrentMisses_OneFlightAndTheEngineIsOnlyStorage()
    {
        var (cache, counter) = CountingCacheProxy.Wrap(new StampedeCache(new StampedeCacheOptions()));
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/one", ctx => GatedAsync(ctx, c =>
            {
                c.Response.Headers.CacheControl = "max-age=60";
                return c.Response.WriteAsync("one");
            })),
            services: s => s.AddSingleton(cache));

        (await host.Client.GetAsync("/one")).CacheStatus().Should().Contain("stored");
        await host.App.Services.GetRequiredService<IStampedeResponseCache>().PurgeAsync(new Uri(host.Address, "/one"));
        var responses = await WaveAsync(host, "/one");

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.OK);
        _origin.Executions.Should().Be(2);
        _origin.MaxConcurrent.Should().Be(1);
        counter.Count(nameof(IStampedeCache.GetOrCreateAsync)).Should().Be(0, "the HTTP flight is the only flight");
        counter.Count(nameof(IStampedeCache.SetAsync)).Should().Be(2);
    }
}
