using System.Net;
using System.Text;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using StampedeGuard.TestSupport;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>RFC items end to end on real Kestrel: request directives, obs-text entity-tags, malformed Expires.</summary>
public sealed class RfcEndToEndTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly Origin _origin = new();

    private Task<TestHost> StartAsync(string cacheControl, Action<HttpResponse>? more = null, bool clientDirectives = true) =>
        TestHost.StartAsync(
            app => app.MapGet("/r", async ctx =>
            {
                using var _ = _origin.Enter();
                if (cacheControl.Length > 0)
                {
                    ctx.Response.Headers.CacheControl = cacheControl;
                }

                more?.Invoke(ctx.Response);
                await ctx.Response.WriteAsync("v" + _origin.Executions);
            }),
            o => o.AllowClientBypass = clientDirectives,
            _time);

    [Fact]
    public async Task Get_RequestMinFresh_EntryNotFreshEnoughGoesToTheOrigin()
    {
        await using var host = await StartAsync("max-age=60");
        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(40)); // 20 s of freshness left

        (await host.Client.GetBodyAsync("/r", ("Cache-Control", "min-fresh=10"))).Body.Should().Be("v1");
        var notFreshEnough = await host.Client.GetBodyAsync("/r", ("Cache-Control", "min-fresh=30"));
        notFreshEnough.Body.Should().Be("v2", notFreshEnough.Response.CacheStatus());
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_RequestMaxStale_StaleEntryServedWithinIt()
    {
        await using var host = await StartAsync("max-age=10", r => r.Headers.ETag = "\"e\"");
        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(30)); // stale by 20 s

        var accepted = await host.Client.GetBodyAsync("/r", ("Cache-Control", "max-stale=25"));
        accepted.Body.Should().Be("v1");
        accepted.Response.CacheStatus().Should().Contain("detail=max-stale");
        (await host.Client.GetBodyAsync("/r", ("Cache-Control", "max-stale"))).Body.Should().Be("v1");
        _origin.Executions.Should().Be(1);

        (await host.Client.GetBodyAsync("/r", ("Cache-Control", "max-stale=5"))).Body.Should().Be("v2");
        _origin.Executions.Should().Be(2);
    }

    [Theory]
    [InlineData("max-age=10, must-revalidate", true)] // the response forbids serving it stale
    [InlineData("max-age=10", false)] // client directives are off by default
    public async Task Get_RequestMaxStale_NotHonouredWhenForbidden(string cacheControl, bool clientDirectives)
    {
        await using var host = await StartAsync(cacheControl, r => r.Headers.ETag = "\"e\"", clientDirectives);
        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(30));
        (await host.Client.GetAsync("/r", ("Cache-Control", "max-stale"))).CacheStatus().Should().NotContain("max-stale");
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_RequestNoStore_ResponseNotStored()
    {
        await using var host = await StartAsync("max-age=60");
        var first = await host.Client.GetAsync("/r", ("Cache-Control", "no-store"));
        first.CacheStatus().Should().Contain("detail=no-store").And.NotContain("stored");
        (await host.Client.GetBodyAsync("/r")).Response.CacheStatus().Should().Contain("fwd=uri-miss");
        (await host.Client.GetBodyAsync("/r", ("Cache-Control", "no-store"))).Response.CacheStatus().Should().Contain("hit"); // may be served, not stored
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_ObsTextEntityTag_RoundTripsOnMissAndHit()
    {
        const string etag = "\"caf\u00e9\""; // 0xE9: obs-text, sent as one Latin-1 byte
        await using var host = await StartAsync("max-age=60", r => r.Headers.ETag = etag);
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, ResponseHeaderEncodingSelector = (_, _) => Encoding.Latin1 }) { BaseAddress = host.Address };

        var miss = await client.GetAsync("/r");
        miss.StatusCode.Should().Be(HttpStatusCode.OK, await miss.Content.ReadAsStringAsync());
        miss.Headers.GetValues("ETag").Should().Equal(etag);
        var hit = await client.GetAsync("/r");
        hit.CacheStatus().Should().Contain("hit");
        hit.Headers.GetValues("ETag").Should().Equal(etag);

        // (An If-None-Match carrying obs-text needs the app to let Kestrel accept Latin-1 request headers; the
        // comparison itself is HttpParsingTests.IfNoneMatch_ParsedAsEntityTags.)
        _origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_IfNoneMatchWithCommaInsideATag_MatchesThatTag()
    {
        await using var host = await StartAsync("max-age=60", r => r.Headers.ETag = "\"a,b\"");
        await host.Client.GetAsync("/r");
        (await host.Client.GetAsync("/r", ("If-None-Match", "\"a,b\", \"c\""))).StatusCode.Should().Be(HttpStatusCode.NotModified);
        (await host.Client.GetAsync("/r", ("If-None-Match", "\"a\", \"b\""))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Get_MalformedExpires_AlreadyExpired()
    {
        await using var host = await StartAsync(string.Empty, r => r.Headers.Expires = "Thu, 18-Aug-2050 08:49:37 GMT");
        (await host.Client.GetAsync("/r")).CacheStatus().Should().NotContain("stored");
        (await host.Client.GetAsync("/r")).CacheStatus().Should().NotStartWith("StampedeGuard; hit");
        _origin.Executions.Should().Be(2);
    }

    [Theory]
    [InlineData("bytes=1-2", HttpStatusCode.PartialContent, "1|", "bytes 1-2/4")] // body "v1|x"
    [InlineData("bytes=2-", HttpStatusCode.PartialContent, "|x", "bytes 2-3/4")]
    [InlineData("bytes=-1", HttpStatusCode.PartialContent, "x", "bytes 3-3/4")]
    [InlineData("bytes=1-99", HttpStatusCode.PartialContent, "1|x", "bytes 1-3/4")]
    [InlineData("bytes=9-", HttpStatusCode.RequestedRangeNotSatisfiable, "", "bytes */4")]
    public async Task Get_RangeOnAStoredFullResponse_ServedFromTheCache(string range, HttpStatusCode status, string body, string contentRange)
    {
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/r", async ctx =>
            {
                using var _ = _origin.Enter();
                ctx.Response.Headers.CacheControl = "max-age=60";
                await ctx.Response.WriteAsync("v" + _origin.Executions + "|x");
            }),
            time: _time);
        await host.Client.GetAsync("/r");

        var (response, text) = await host.Client.GetBodyAsync("/r", ("Range", range));
        response.StatusCode.Should().Be(status);
        text.Should().Be(body);
        response.Content.Headers.ContentRange!.ToString().Should().Be(contentRange);
        response.CacheStatus().Should().Contain("hit").And.Contain("detail=range");
        _origin.Executions.Should().Be(1);
    }

    [Theory]
    [InlineData("bytes=0-0,2-3")] // several ranges
    [InlineData("items=0-1")]
    public async Task Get_RangeTheCacheDoesNotServe_PassedToTheOrigin(string range)
    {
        await using var host = await StartAsync("max-age=60");
        await host.Client.GetAsync("/r");
        (await host.Client.GetAsync("/r", ("Range", range))).CacheStatus().Should().Contain("fwd=bypass; detail=range");
        _origin.Executions.Should().Be(2);
    }
}
