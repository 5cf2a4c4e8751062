using System.Net;
using System.Security.Claims;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>The endpoint shapes real apps use, each through the middleware on real Kestrel: a miss, then a hit.</summary>
public sealed class RealEndpointTests
{
    private readonly Origin _origin = new();

    private async Task<TestHost> StartAsync(Action<WebApplication> endpoints, Action<IServiceCollection>? services = null, Action<WebApplication>? beforeCache = null) =>
        await TestHost.StartAsync(endpoints, services: s =>
        {
            s.AddSingleton<Greeter>();
            services?.Invoke(s);
        }, beforeCache: beforeCache);

    private async Task MissThenHitAsync(TestHost host, string path, string expectedBody)
    {
        var (first, firstBody) = await host.Client.GetBodyAsync(path);
        first.StatusCode.Should().Be(HttpStatusCode.OK, firstBody);
        firstBody.Should().Be(expectedBody);
        first.CacheStatus().Should().Contain("fwd=uri-miss").And.Contain("stored");

        var (second, secondBody) = await host.Client.GetBodyAsync(path);
        second.StatusCode.Should().Be(HttpStatusCode.OK);
        secondBody.Should().Be(expectedBody);
        second.CacheStatus().Should().Contain("hit");
        _origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_StringEndpoint_CachedAndServed()
    {
        await using var host = await StartAsync(app => app.MapGet("/s", () => { using var _ = _origin.Enter(); return "text"; }).CacheResponses(p => p.DurationSeconds = 60));
        await MissThenHitAsync(host, "/s", "text");
    }

    [Fact]
    public async Task Get_ObjectEndpoint_JsonCachedAndServed()
    {
        await using var host = await StartAsync(app => app.MapGet("/o", () => { using var _ = _origin.Enter(); return new Item("a", 1); }).CacheResponses(p => p.DurationSeconds = 60));
        await MissThenHitAsync(host, "/o", """{"name":"a","count":1}""");
    }

    [Fact]
    public async Task Get_ResultsOk_CachedAndServed()
    {
        await using var host = await StartAsync(app => app.MapGet("/r", () => { using var _ = _origin.Enter(); return Results.Ok(new Item("r", 2)); }).CacheResponses(p => p.DurationSeconds = 60));
        await MissThenHitAsync(host, "/r", """{"name":"r","count":2}""");
    }

    [Fact]
    public async Task Get_TypedResultsOk_CachedAndServed()
    {
        await using var host = await StartAsync(app => app.MapGet("/t", () => { using var _ = _origin.Enter(); return TypedResults.Ok(new Item("t", 3)); }).CacheResponses(p => p.DurationSeconds = 60));
        await MissThenHitAsync(host, "/t", """{"name":"t","count":3}""");
    }

    [Fact]
    public async Task Get_ResultsFileAndStream_CachedAndServed()
    {
        await using var host = await StartAsync(app =>
        {
            app.MapGet("/file", () => { using var _ = _origin.Enter(); return Results.File("file-bytes"u8.ToArray(), "application/octet-stream"); }).CacheResponses(p => p.DurationSeconds = 60);
            app.MapGet("/stream", () => Results.Stream(new MemoryStream("stream-bytes"u8.ToArray()), "text/plain")).CacheResponses(p => p.DurationSeconds = 60);
        });
        await MissThenHitAsync(host, "/file", "file-bytes");
        var (stream, body) = await host.Client.GetBodyAsync("/stream");
        stream.StatusCode.Should().Be(HttpStatusCode.OK);
        body.Should().Be("stream-bytes");
        (await host.Client.GetAsync("/stream")).CacheStatus().Should().Contain("hit");
    }

    [Fact]
    public async Task Get_InjectedService_CachedAndServed()
    {
        await using var host = await StartAsync(app => app.MapGet("/svc", (Greeter greeter) => { using var _ = _origin.Enter(); return Results.Ok(greeter.Greet("svc")); }).CacheResponses(p => p.DurationSeconds = 60));
        await MissThenHitAsync(host, "/svc", "\"hello svc\"");
    }

    [Fact]
    public async Task Get_UserAndRouteValues_SeenByTheEndpoint()
    {
        await using var host = await StartAsync(
            app => app.MapGet("/items/{id}", (string id, HttpContext ctx) =>
            {
                using var _ = _origin.Enter();
                return Results.Text($"{id}|{ctx.Request.RouteValues["id"]}|{ctx.User.Identity?.Name}|{ctx.GetEndpoint()?.DisplayName is not null}");
            }).CacheResponses(p => p.DurationSeconds = 60),
            beforeCache: app => app.Use((ctx, next) =>
            {
                ctx.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "ann")], "test"));
                return next(ctx);
            }));
        await MissThenHitAsync(host, "/items/42", "42|42|ann|True");
    }

    [Fact]
    public async Task Get_EndpointWithoutPolicy_AnswersOkWithCacheStatus()
    {
        await using var host = await StartAsync(app => app.MapGet("/plain", (Greeter greeter) => { using var _ = _origin.Enter(); return TypedResults.Ok(greeter.Greet("plain")); }));

        var (response, body) = await host.Client.GetBodyAsync("/plain");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        body.Should().Be("\"hello plain\"");
        response.CacheStatus().Should().Contain("fwd=uri-miss");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Get_ResponseCompressionBeforeOrAfter_CompressedBodyRoundTrips(bool compressionBeforeCache)
    {
        var text = string.Concat(Enumerable.Repeat("compress me ", 200));
        await using var host = await TestHost.StartAsync(
            app =>
            {
                if (!compressionBeforeCache)
                {
                    app.UseResponseCompression();
                }

                app.MapGet("/z", () => { using var _ = _origin.Enter(); return Results.Text(text); }).CacheResponses(p => p.DurationSeconds = 60);
            },
            services: s => s.AddResponseCompression(o => o.Providers.Add<GzipCompressionProvider>()),
            beforeCache: app =>
            {
                if (compressionBeforeCache)
                {
                    app.UseResponseCompression();
                }
            });
        using var client = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.GZip, UseProxy = false }) { BaseAddress = host.Address };

        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/z");
            request.Headers.AcceptEncoding.ParseAdd("gzip");
            using var response = await client.SendAsync(request);
            response.StatusCode.Should().Be(HttpStatusCode.OK);
            (await response.Content.ReadAsStringAsync()).Should().Be(text);
            response.CacheStatus().Should().Contain(i == 0 ? "fwd=uri-miss" : "hit");
        }

        _origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_MvcControllerWithAttribute_CachedAndServed()
    {
        await using var host = await TestHost.StartAsync(
            app => app.MapControllers(),
            services: s =>
            {
                s.AddSingleton(_origin);
                s.AddSingleton<Greeter>();
                s.AddControllers().AddApplicationPart(typeof(GreetingController).Assembly);
            });
        await MissThenHitAsync(host, "/mvc/ann", "hello ann"); // MVC writes a string as text/plain
    }

    [Fact]
    public async Task Get_EngineTimeProviderOption_IsTheClockOfHttpFreshness()
    {
        var time = new StampedeGuard.TestSupport.FakeTimeProvider();
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/clock", () => { using var _ = _origin.Enter(); return "c" + _origin.Executions; }).CacheResponses(p => p.DurationSeconds = 60),
            services: s => s.AddStampedeGuard(o => o.TimeProvider = time));

        (await host.Client.GetBodyAsync("/clock")).Body.Should().Be("c1");
        time.Advance(TimeSpan.FromSeconds(59));
        (await host.Client.GetAsync("/clock")).Headers.Age.Should().Be(TimeSpan.FromSeconds(59));
        time.Advance(TimeSpan.FromSeconds(2));
        (await host.Client.GetBodyAsync("/clock")).Body.Should().Be("c2");
    }

    public sealed record Item(string Name, int Count);

    public sealed class Greeter
    {
        public string Greet(string name) => "hello " + name;
    }
}
