using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.AspNetCore;
using StampedeGuard.TestSupport.Http;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>The accelerator's single-origin form (<c>--origin URL</c>): the cache in front of YARP, in front of a real origin server.</summary>
public sealed class AcceleratorTests
{
    [Fact]
    public async Task Accelerator_300ConcurrentMisses_OneOriginRequest()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var origin = await OriginServer.StartAsync((app, o) => app.MapGet("/page", async ctx =>
        {
            using var _ = o.Enter();
            await gate.Task;
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("page");
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

        var tasks = Enumerable.Range(0, 300).Select(_ => accelerator.Client.GetBodyAsync("/page")).ToArray();
        await origin.Counter.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await HttpTestExtensions.WaitUntilAsync(() => accelerator.Count("collapsed") == 299, "the other 299 requests join the leader's flight");
        gate.SetResult();
        var responses = await Task.WhenAll(tasks);

        responses.Should().OnlyContain(r => r.Response.StatusCode == HttpStatusCode.OK && r.Body == "page");
        origin.Executions.Should().Be(1);
        (await accelerator.Client.GetAsync("/page")).CacheStatus().Should().Contain("hit");
    }

    [Fact]
    public async Task Accelerator_SlowOriginBody_StreamedToWaitersAsItArrives()
    {
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var origin = await OriginServer.StartAsync((app, o) => app.MapGet("/slow", async ctx =>
        {
            using var _ = o.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("head|");
            await ctx.Response.Body.FlushAsync();
            await rest.Task;
            await ctx.Response.WriteAsync("tail");
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

        var leader = await accelerator.Client.GetAsync("/slow", HttpCompletionOption.ResponseHeadersRead);
        (await (await leader.Content.ReadAsStreamAsync()).ReadExactlyAsync(5)).Should().Be("head|");
        var waiter = await accelerator.Client.GetAsync("/slow", HttpCompletionOption.ResponseHeadersRead);
        var waiterStream = await waiter.Content.ReadAsStreamAsync();
        (await waiterStream.ReadExactlyAsync(5)).Should().Be("head|");
        rest.Task.IsCompleted.Should().BeFalse();
        waiter.CacheStatus().Should().Contain("collapsed");
        rest.SetResult();
        (await new StreamReader(waiterStream).ReadToEndAsync()).Should().Be("tail");
        origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Accelerator_Request_SetsViaAndForwardedHeaders_StripsHopByHop_ReplacesClientForwardedHost()
    {
        IHeaderDictionary? seen = null;
        await using var origin = await OriginServer.StartAsync((app, _) => app.MapGet("/h", async ctx =>
        {
            seen = new HeaderDictionary(ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value));
            ctx.Response.Headers["X-Hop"] = "secret";
            ctx.Response.Headers.Connection = "X-Hop";
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("h");
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

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
    public async Task Accelerator_PreserveHostFalse_SendsTheOriginsAuthority()
    {
        string? host = null;
        await using var origin = await OriginServer.StartAsync((app, _) => app.MapGet("/host", ctx =>
        {
            host = ctx.Request.Host.Value;
            return Task.CompletedTask;
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address, "--StampedeGuard:Accelerator:PreserveHost", "false");

        (await accelerator.Client.GetAsync("/host")).StatusCode.Should().Be(HttpStatusCode.OK);
        host.Should().Be(origin.Address.Authority);
    }

    [Fact]
    public async Task Accelerator_ViaNameSetOrEmpty_NamedPseudonymOrNoVia()
    {
        var seen = new List<string>();
        await using var origin = await OriginServer.StartAsync((app, _) => app.MapGet("/via", ctx =>
        {
            lock (seen)
            {
                seen.Add(ctx.Request.Headers.Via.ToString());
            }

            return Task.CompletedTask;
        }));
        await using (var named = await AcceleratorHost.StartAsync(origin.Address, "--StampedeGuard:Accelerator:Via", "edge-1"))
        {
            (await named.Client.GetAsync("/via")).Headers.Via.ToString().Should().Be("1.1 edge-1");
        }

        await using (var none = await AcceleratorHost.StartAsync(origin.Address, "--StampedeGuard:Accelerator:Via", ""))
        {
            (await none.Client.GetAsync("/via")).Headers.Via.Should().BeEmpty();
        }

        seen.Should().Equal("1.1 edge-1", string.Empty);
    }

    [Fact]
    public async Task Accelerator_PostWithBody_ForwardedAndInvalidatesTheCachedGet()
    {
        await using var origin = await OriginServer.StartAsync((app, o) => app.MapMethods("/items", ["GET", "POST"], async ctx =>
        {
            using var _ = o.Enter();
            if (HttpMethods.IsPost(ctx.Request.Method))
            {
                var body = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
                ctx.Response.StatusCode = 201;
                await ctx.Response.WriteAsync("created:" + body);
                return;
            }

            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("list" + o.Executions);
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

        (await accelerator.Client.GetBodyAsync("/items")).Body.Should().Be("list1");
        (await accelerator.Client.GetBodyAsync("/items")).Body.Should().Be("list1");
        var post = await accelerator.Client.PostAsync("/items", new StringContent("new-item"));
        (await post.Content.ReadAsStringAsync()).Should().Be("created:new-item");
        (await accelerator.Client.GetBodyAsync("/items")).Body.Should().Be("list3");
    }

    [Fact]
    public async Task Accelerator_UncacheableOrigin_PassesAndMarksHitForPass()
    {
        await using var origin = await OriginServer.StartAsync((app, o) => app.MapGet("/me", async ctx =>
        {
            using var _ = o.Enter();
            ctx.Response.Headers.SetCookie = "id=" + o.Executions;
            await ctx.Response.WriteAsync("me" + o.Executions);
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

        (await accelerator.Client.GetBodyAsync("/me")).Body.Should().Be("me1");
        var second = await accelerator.Client.GetBodyAsync("/me");
        second.Body.Should().Be("me2");
        second.Response.CacheStatus().Should().Contain("hit-for-pass");
        second.Response.Headers.GetValues("Set-Cookie").Should().Equal("id=2");
    }

    [Fact]
    public async Task Accelerator_OriginStopped_StaleIfErrorServed_UncachedIs502()
    {
        var origin = await OriginServer.StartAsync((app, _) => app.MapGet("/x", async ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=0, stale-if-error=600";
            ctx.Response.Headers.ETag = "\"1\"";
            await ctx.Response.WriteAsync("still here");
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

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
        await using var origin = await OriginServer.StartAsync((app, o) => app.MapGet("/swr", async ctx =>
        {
            using var _ = o.Enter();
            lock (conditional)
            {
                conditional.Add(ctx.Request.Headers.IfNoneMatch.ToString());
            }

            ctx.Response.Headers.CacheControl = "max-age=10, stale-while-revalidate=60";
            ctx.Response.Headers.ETag = "\"v1\"";
            ctx.Response.Headers["X-Served"] = o.Executions.ToString();
            if (ctx.Request.Headers.IfNoneMatch == "\"v1\"")
            {
                ctx.Response.StatusCode = 304;
                return;
            }

            await ctx.Response.WriteAsync("swr body");
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(["--origin", origin.Address.ToString()], services: s =>
        {
            s.AddSingleton<TimeProvider>(time);
            s.AddSingleton<IStampedeCache>(_ => new StampedeCache(new StampedeCacheOptions { TimeProvider = time }));
        });

        await accelerator.Client.GetAsync("/swr");
        time.Advance(TimeSpan.FromSeconds(15));
        var stale = await accelerator.Client.GetBodyAsync("/swr");
        stale.Body.Should().Be("swr body");
        stale.Response.CacheStatus().Should().Contain("stale-while-revalidate");

        await HttpTestExtensions.WaitUntilAsync(() => origin.Executions == 2, "the stale hit starts one background revalidation");
        HttpResponseMessage? fresh = null;
        await HttpTestExtensions.WaitUntilAsync(
            async () => (fresh = await accelerator.Client.GetAsync("/swr")).CacheStatus() is var status && status.Contains("; hit; ttl=") && !status.Contains("detail="),
            "the background revalidation stores the merged response just after the origin's 304");

        fresh!.Header("X-Served").Should().Be("2"); // the 304's fields were merged
        (await fresh!.Content.ReadAsStringAsync()).Should().Be("swr body");
        conditional.Should().Equal(string.Empty, "\"v1\"");
    }
}
