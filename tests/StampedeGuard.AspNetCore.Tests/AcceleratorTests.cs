using System.Net;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>The accelerator: the cache in front of the forwarding handler, in front of a real origin server.</summary>
public sealed class AcceleratorTests
{
    private readonly Origin _origin = new();

    private static Task<TestHost> StartAcceleratorAsync(Uri origin, Action<StampedeResponseCachingOptions>? configure = null) =>
        TestHost.StartAsync(
            app => app.RunStampedeGuardForwarder(),
            configure,
            services: s => s.AddStampedeGuardForwarder(o => o.Origin = origin));

    [Fact]
    public async Task Accelerator_300ConcurrentMisses_OneOriginRequest()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var origin = await TestHost.StartAsync(app => app.MapGet("/page", async ctx =>
        {
            using var _ = _origin.Enter();
            await gate.Task;
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("page");
        }), cache: false);
        await using var accelerator = await StartAcceleratorAsync(origin.Address);

        var tasks = Enumerable.Range(0, 300).Select(_ => accelerator.Client.GetBodyAsync("/page")).ToArray();
        await _origin.Entered.Task;
        await Task.Delay(300); // arrivals after the response is stored are hits, which keeps the count at 1 either way
        gate.SetResult();
        var responses = await Task.WhenAll(tasks);

        responses.Should().OnlyContain(r => r.Response.StatusCode == HttpStatusCode.OK && r.Body == "page");
        _origin.Executions.Should().Be(1);
        (await accelerator.Client.GetAsync("/page")).CacheStatus().Should().Contain("hit");
    }

    [Fact]
    public async Task Accelerator_StreamsSlowBodyToWaitersAsItArrives()
    {
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var origin = await TestHost.StartAsync(app => app.MapGet("/slow", async ctx =>
        {
            using var _ = _origin.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("head|");
            await ctx.Response.Body.FlushAsync();
            await rest.Task;
            await ctx.Response.WriteAsync("tail");
        }), cache: false);
        await using var accelerator = await StartAcceleratorAsync(origin.Address);

        var leader = await accelerator.Client.GetAsync("/slow", HttpCompletionOption.ResponseHeadersRead);
        (await CollapsingTests.ReadExactlyAsync(await leader.Content.ReadAsStreamAsync(), 5)).Should().Be("head|");
        var waiter = await accelerator.Client.GetAsync("/slow", HttpCompletionOption.ResponseHeadersRead);
        var waiterStream = await waiter.Content.ReadAsStreamAsync();
        (await CollapsingTests.ReadExactlyAsync(waiterStream, 5)).Should().Be("head|");
        rest.Task.IsCompleted.Should().BeFalse();
        waiter.CacheStatus().Should().Contain("collapsed");
        rest.SetResult();
        (await new StreamReader(waiterStream).ReadToEndAsync()).Should().Be("tail");
        _origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Accelerator_SetsViaAndForwardedHeaders_StripsHopByHop_ReplacesClientForwardedHost()
    {
        IHeaderDictionary? seen = null;
        await using var origin = await TestHost.StartAsync(app => app.MapGet("/h", async ctx =>
        {
            seen = new HeaderDictionary(ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value));
            ctx.Response.Headers["X-Hop"] = "secret";
            ctx.Response.Headers.Connection = "X-Hop";
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("h");
        }), cache: false);
        await using var accelerator = await StartAcceleratorAsync(origin.Address);

        var response = await accelerator.Client.GetAsync("/h", ("X-Forwarded-Host", "evil.example"), ("Connection", "X-Private"), ("X-Private", "p"), ("Keep-Alive", "timeout=5"));
        seen!["Via"].ToString().Should().Contain("stampedeguard");
        seen["X-Forwarded-For"].ToString().Should().Be("127.0.0.1");
        seen["X-Forwarded-Proto"].ToString().Should().Be("http");
        seen["X-Forwarded-Host"].ToString().Should().Be(accelerator.Address.Authority);
        seen.ContainsKey("X-Private").Should().BeFalse();
        seen.ContainsKey("Keep-Alive").Should().BeFalse();
        seen["Host"].ToString().Should().Be(accelerator.Address.Authority);
        response.Header("X-Hop").Should().BeNull();
        response.Headers.Via.ToString().Should().Contain("stampedeguard");

        (await accelerator.Client.GetAsync("/h")).CacheStatus().Should().Contain("fwd=uri-miss"); // X-Forwarded-Host is keyed
        var hit = await accelerator.Client.GetAsync("/h");
        hit.CacheStatus().Should().Contain("hit");
        hit.Header("X-Hop").Should().BeNull();
    }

    [Fact]
    public async Task Accelerator_ForwardsEveryMethodWithBody_AndInvalidatesAfterPost()
    {
        await using var origin = await TestHost.StartAsync(app => app.MapMethods("/items", ["GET", "POST"], async ctx =>
        {
            using var _ = _origin.Enter();
            if (HttpMethods.IsPost(ctx.Request.Method))
            {
                var body = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
                ctx.Response.StatusCode = 201;
                await ctx.Response.WriteAsync("created:" + body);
                return;
            }

            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("list" + _origin.Executions);
        }), cache: false);
        await using var accelerator = await StartAcceleratorAsync(origin.Address);

        (await accelerator.Client.GetBodyAsync("/items")).Body.Should().Be("list1");
        (await accelerator.Client.GetBodyAsync("/items")).Body.Should().Be("list1");
        var post = await accelerator.Client.PostAsync("/items", new StringContent("new-item"));
        (await post.Content.ReadAsStringAsync()).Should().Be("created:new-item");
        (await accelerator.Client.GetBodyAsync("/items")).Body.Should().Be("list3");
    }

    [Fact]
    public async Task Accelerator_UncacheableOrigin_PassesAndMarksHitForPass()
    {
        await using var origin = await TestHost.StartAsync(app => app.MapGet("/me", async ctx =>
        {
            using var _ = _origin.Enter();
            ctx.Response.Headers.SetCookie = "id=" + _origin.Executions;
            await ctx.Response.WriteAsync("me" + _origin.Executions);
        }), cache: false);
        await using var accelerator = await StartAcceleratorAsync(origin.Address);

        (await accelerator.Client.GetBodyAsync("/me")).Body.Should().Be("me1");
        var second = await accelerator.Client.GetBodyAsync("/me");
        second.Body.Should().Be("me2");
        second.Response.CacheStatus().Should().Contain("hit-for-pass");
        second.Response.Headers.GetValues("Set-Cookie").Should().Equal("id=2");
    }

    [Fact]
    public async Task Accelerator_OriginDown_502AndStaleIfErrorWhenAllowed()
    {
        await using var origin = await TestHost.StartAsync(app => app.MapGet("/x", async ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=0, stale-if-error=600";
            ctx.Response.Headers.ETag = "\"1\"";
            await ctx.Response.WriteAsync("still here");
        }), cache: false);
        var originAddress = origin.Address;
        await using var accelerator = await StartAcceleratorAsync(originAddress);

        (await accelerator.Client.GetBodyAsync("/x")).Body.Should().Be("still here");
        await origin.DisposeAsync(); // the origin goes away

        var stale = await accelerator.Client.GetBodyAsync("/x");
        stale.Response.StatusCode.Should().Be(HttpStatusCode.OK);
        stale.Body.Should().Be("still here");
        stale.Response.CacheStatus().Should().Contain("stale-if-error");

        (await accelerator.Client.GetAsync("/never-cached")).StatusCode.Should().Be(HttpStatusCode.BadGateway);
    }

    [Fact]
    public async Task Accelerator_StaleWhileRevalidate_RevalidatesInTheBackgroundWithTheValidator()
    {
        var time = new StampedeGuard.TestSupport.FakeTimeProvider();
        var conditional = new List<string>();
        await using var origin = await TestHost.StartAsync(app => app.MapGet("/swr", async ctx =>
        {
            using var _ = _origin.Enter();
            lock (conditional)
            {
                conditional.Add(ctx.Request.Headers.IfNoneMatch.ToString());
            }

            ctx.Response.Headers.CacheControl = "max-age=10, stale-while-revalidate=60";
            ctx.Response.Headers.ETag = "\"v1\"";
            ctx.Response.Headers["X-Served"] = _origin.Executions.ToString();
            if (ctx.Request.Headers.IfNoneMatch == "\"v1\"")
            {
                ctx.Response.StatusCode = 304;
                return;
            }

            await ctx.Response.WriteAsync("swr body");
        }), cache: false);
        await using var accelerator = await TestHost.StartAsync(
            app => app.RunStampedeGuardForwarder(),
            time: time,
            services: s => s.AddStampedeGuardForwarder(o => o.Origin = origin.Address));

        await accelerator.Client.GetAsync("/swr");
        time.Advance(TimeSpan.FromSeconds(15));
        var stale = await accelerator.Client.GetBodyAsync("/swr");
        stale.Body.Should().Be("swr body");
        stale.Response.CacheStatus().Should().Contain("stale-while-revalidate");

        await CollapsingTests.WaitUntilAsync(() => _origin.Executions == 2);
        HttpResponseMessage fresh;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(fresh = await accelerator.Client.GetAsync("/swr")).CacheStatus().Contains("; hit; ttl=") || fresh.CacheStatus().Contains("detail="))
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the background revalidation should store its result");
            await Task.Delay(20); // the revalidation stores the merged response just after the origin's 304
        }

        fresh.Header("X-Served").Should().Be("2"); // the 304's fields were merged
        (await fresh.Content.ReadAsStringAsync()).Should().Be("swr body");
        conditional.Should().Equal(string.Empty, "\"v1\"");
    }
}
