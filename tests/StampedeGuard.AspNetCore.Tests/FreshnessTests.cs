using System.Net;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using StampedeGuard.TestSupport;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>RFC 9111 freshness and storability, end to end through real Kestrel, with a fake clock.</summary>
public sealed class FreshnessTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly Origin _origin = new();

    private Task<TestHost> StartAsync(Action<HttpContext> respond, Action<StampedeResponseCachingOptions>? configure = null) =>
        TestHost.StartAsync(app => app.MapGet("/r", async ctx =>
        {
            using var _ = _origin.Enter();
            respond(ctx);
            await ctx.Response.WriteAsync("body" + _origin.Executions);
        }), configure, _time);

    private string Date(TimeSpan offset = default) => HeaderUtilities.FormatDate(_time.GetUtcNow() + offset);

    [Fact]
    public async Task Get_MaxAge_HitUntilExpiryWithAgeAndCacheStatus()
    {
        await using var host = await StartAsync(ctx => ctx.Response.Headers.CacheControl = "max-age=60");

        var first = await host.Client.GetBodyAsync("/r");
        first.Response.CacheStatus().Should().Be("StampedeGuard; fwd=uri-miss; ttl=60; stored");
        _time.Advance(TimeSpan.FromSeconds(10));
        var hit = await host.Client.GetBodyAsync("/r");
        hit.Body.Should().Be("body1");
        hit.Response.Headers.Age.Should().Be(TimeSpan.FromSeconds(10));
        hit.Response.CacheStatus().Should().Be("StampedeGuard; hit; ttl=50");

        _time.Advance(TimeSpan.FromSeconds(51));
        var expired = await host.Client.GetBodyAsync("/r");
        expired.Body.Should().Be("body2");
        expired.Response.CacheStatus().Should().Contain("fwd=");
    }

    [Fact]
    public async Task Get_SMaxAge_WinsOverMaxAge()
    {
        await using var host = await StartAsync(ctx => ctx.Response.Headers.CacheControl = "max-age=1000, s-maxage=5");
        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(6));
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }

    [Fact]
    public async Task Get_ExpiresMinusDate_UsedWithoutMaxAge()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.Date = Date();
            ctx.Response.Headers.Expires = Date(TimeSpan.FromSeconds(30));
        });
        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(29));
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body1");
        _time.Advance(TimeSpan.FromSeconds(2));
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("not a date")]
    public async Task Get_InvalidExpires_AlreadyStale(string expires)
    {
        await using var host = await StartAsync(ctx => ctx.Response.Headers.Expires = expires);
        var first = await host.Client.GetAsync("/r");
        first.CacheStatus().Should().NotContain("stored");
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }

    [Theory]
    [InlineData("max-age=abc")]
    [InlineData("max-age=60, max-age=10")]
    [InlineData("max-age=\"")]
    [InlineData(",,,max-age")]
    public async Task Get_MalformedCacheControl_TreatedAsStale(string cacheControl)
    {
        await using var host = await StartAsync(ctx => ctx.Response.Headers.CacheControl = cacheControl);
        (await host.Client.GetAsync("/r")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }

    [Fact]
    public async Task Get_HugeMaxAge_ClampedNotOverflowed()
    {
        await using var host = await StartAsync(ctx => ctx.Response.Headers.CacheControl = "max-age=99999999999999999999999");
        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromDays(3650));
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body1");
    }

    [Fact]
    public async Task Get_HeuristicFreshness_OnlyWithLastModified()
    {
        await using var host = await StartAsync(ctx =>
        {
            if (ctx.Request.Query.ContainsKey("lm"))
            {
                ctx.Response.Headers.LastModified = Date(TimeSpan.FromSeconds(-1000));
            }
        });

        await host.Client.GetAsync("/r?lm=1");
        _time.Advance(TimeSpan.FromSeconds(50)); // 10% of 1000 s = 100 s
        (await host.Client.GetBodyAsync("/r?lm=1")).Body.Should().Be("body1");

        var none = await host.Client.GetAsync("/r");
        none.CacheStatus().Should().Contain("detail=no-freshness");
        (await host.Client.GetBodyAsync("/r")).Response.CacheStatus().Should().Contain("hit-for-pass");
    }

    [Theory]
    [InlineData("no-store, max-age=60", "no-store")]
    [InlineData("private, max-age=60", "private")]
    [InlineData("max-age=60, private", "private")]
    public async Task Get_NotStorableDirective_NotStored(string cacheControl, string detail)
    {
        await using var host = await StartAsync(ctx => ctx.Response.Headers.CacheControl = cacheControl);
        (await host.Client.GetAsync("/r")).CacheStatus().Should().Contain("detail=" + detail);
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }

    [Fact]
    public async Task Get_SetCookie_NotStoredByDefault()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.SetCookie = "session=secret";
        });
        (await host.Client.GetAsync("/r")).CacheStatus().Should().Contain("detail=set-cookie");
        var second = await host.Client.GetBodyAsync("/r");
        second.Body.Should().Be("body2");
    }

    [Fact]
    public async Task Get_SetCookieAddedInOnStarting_StillSeenAndNotStored()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.OnStarting(() =>
            {
                ctx.Response.Headers.SetCookie = "session=late";
                return Task.CompletedTask;
            });
        });
        var first = await host.Client.GetAsync("/r");
        first.Headers.GetValues("Set-Cookie").Should().Contain("session=late");
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }

    [Fact]
    public async Task Get_SetCookieAllowedByOption_StoredAsReceivedWithTheCookie()
    {
        await using var host = await StartAsync(
            ctx =>
            {
                ctx.Response.Headers.CacheControl = "max-age=60";
                ctx.Response.Headers.SetCookie = "session=secret";
            },
            o => o.StoreResponsesWithSetCookie = true);
        (await host.Client.GetAsync("/r")).Headers.Contains("Set-Cookie").Should().BeTrue();
        var hit = await host.Client.GetBodyAsync("/r");
        hit.Body.Should().Be("body1");
        hit.Response.CacheStatus().Should().Contain("hit");
        hit.Response.Headers.GetValues("Set-Cookie").Should().Equal("session=secret"); // RFC 9111 3.1: stored as received
    }

    [Fact]
    public async Task Get_Authorization_StoredOnlyWithPublic()
    {
        await using var host = await StartAsync(ctx => ctx.Response.Headers.CacheControl = ctx.Request.Query.ContainsKey("public") ? "public, max-age=60" : "max-age=60");
        (await host.Client.GetAsync("/r", ("Authorization", "Bearer a"))).CacheStatus().Should().Contain("detail=authorization");
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");

        await host.Client.GetAsync("/r?public=1", ("Authorization", "Bearer a"));
        (await host.Client.GetBodyAsync("/r?public=1")).Body.Should().Be("body3");
    }

    [Fact]
    public async Task Get_NoCache_StoredButRevalidatedEveryTime()
    {
        var conditional = new List<string?>();
        await using var host = await TestHost.StartAsync(app => app.MapGet("/r", async ctx =>
        {
            using var _ = _origin.Enter();
            conditional.Add(ctx.Request.Headers.IfNoneMatch.ToString());
            ctx.Response.Headers.CacheControl = "no-cache";
            ctx.Response.Headers.ETag = "\"v1\"";
            if (ctx.Request.Headers.IfNoneMatch == "\"v1\"")
            {
                ctx.Response.StatusCode = 304;
                return;
            }

            await ctx.Response.WriteAsync("full");
        }), time: _time);

        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("full");
        var second = await host.Client.GetBodyAsync("/r");
        second.Response.StatusCode.Should().Be(HttpStatusCode.OK);
        second.Body.Should().Be("full");
        second.Response.CacheStatus().Should().Contain("fwd=stale");
        conditional.Should().Equal(string.Empty, "\"v1\"");
    }

    [Fact]
    public async Task Get_Revalidation304_MergesHeaders()
    {
        await using var host = await TestHost.StartAsync(app => app.MapGet("/r", async ctx =>
        {
            using var _ = _origin.Enter();
            ctx.Response.Headers.ETag = "\"v1\"";
            ctx.Response.Headers.CacheControl = "max-age=10";
            if (ctx.Request.Headers.IfNoneMatch == "\"v1\"")
            {
                ctx.Response.Headers["X-Version"] = "updated";
                ctx.Response.StatusCode = 304;
                return;
            }

            ctx.Response.Headers["X-Version"] = "original";
            await ctx.Response.WriteAsync("full");
        }), time: _time);

        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(11));
        var revalidated = await host.Client.GetBodyAsync("/r");
        revalidated.Body.Should().Be("full");
        revalidated.Response.Header("X-Version").Should().Be("updated");
        var hit = await host.Client.GetBodyAsync("/r");
        hit.Response.CacheStatus().Should().Contain("hit");
        hit.Response.Header("X-Version").Should().Be("updated");
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_StaleWhileRevalidate_ServesStaleAndRevalidatesOnceInBackground()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(app => app.MapGet("/r", async ctx =>
        {
            using var _ = _origin.Enter();
            if (_origin.Executions == 2)
            {
                await gate.Task; // the background revalidation is slow
            }

            ctx.Response.Headers.CacheControl = "max-age=10, stale-while-revalidate=60";
            await ctx.Response.WriteAsync("body" + _origin.Executions);
        }), time: _time);

        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(15));
        var stale = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => host.Client.GetBodyAsync("/r")));
        stale.Should().OnlyContain(r => r.Body == "body1" && r.Response.CacheStatus().Contains("stale-while-revalidate"));
        await CollapsingTests.WaitUntilAsync(() => _origin.Executions == 2); // the one background revalidation, started by a Task.Run
        gate.SetResult();
        await CollapsingTests.WaitUntilAsync(() => _origin.Concurrent == 0);
        for (var i = 0; i < 100 && (await host.Client.GetBodyAsync("/r")).Body != "body2"; i++)
        {
            await Task.Delay(20); // the revalidation stores its response just after the origin returns
        }

        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_StaleIfError_ServesStaleOn5xx()
    {
        await using var host = await StartAsync(ctx =>
        {
            if (_origin.Executions > 1)
            {
                ctx.Response.StatusCode = 500;
                return;
            }

            ctx.Response.Headers.CacheControl = "max-age=10, stale-if-error=60";
        });

        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(20));
        var served = await host.Client.GetBodyAsync("/r");
        served.Response.StatusCode.Should().Be(HttpStatusCode.OK);
        served.Body.Should().Be("body1");
        served.Response.CacheStatus().Should().Contain("detail=stale-if-error");

        _time.Advance(TimeSpan.FromSeconds(60));
        (await host.Client.GetAsync("/r")).StatusCode.Should().Be(HttpStatusCode.InternalServerError);
    }

    [Fact]
    public async Task Get_StaleIfErrorFromOptions_ServesStaleWhenOriginThrows()
    {
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/r", async ctx =>
            {
                using var _ = _origin.Enter();
                if (_origin.Executions > 1)
                {
                    throw new InvalidOperationException("down");
                }

                ctx.Response.Headers.CacheControl = "max-age=10";
                await ctx.Response.WriteAsync("good");
            }),
            o => o.StaleIfError = TimeSpan.FromMinutes(5),
            _time);

        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(20));
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("good");
    }

    [Theory]
    [InlineData("max-age=10, must-revalidate, stale-if-error=60")]
    [InlineData("max-age=10, proxy-revalidate, stale-if-error=60")]
    [InlineData("s-maxage=10, stale-if-error=60")]
    public async Task Get_MustRevalidate_NeverServedStale(string cacheControl)
    {
        await using var host = await StartAsync(ctx =>
        {
            if (_origin.Executions > 1)
            {
                ctx.Response.StatusCode = 500;
                return;
            }

            ctx.Response.Headers.CacheControl = cacheControl;
        });

        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(20));
        (await host.Client.GetAsync("/r")).StatusCode.Should().Be(HttpStatusCode.InternalServerError);
    }

    [Fact]
    public async Task Get_CdnCacheControl_WinsOverCacheControl()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "no-store";
            ctx.Response.Headers["CDN-Cache-Control"] = "max-age=60";
        });
        await host.Client.GetAsync("/r");
        var hit = await host.Client.GetBodyAsync("/r");
        hit.Body.Should().Be("body1");
        hit.Response.Headers.CacheControl!.NoStore.Should().BeTrue(); // downstream caches still see Cache-Control
    }

    [Fact]
    public async Task Get_OwnTargetedHeader_WinsAndIsNotShownToClients()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers["CDN-Cache-Control"] = "max-age=60";
            ctx.Response.Headers["StampedeGuard-Cache-Control"] = "no-store";
        });
        var first = await host.Client.GetAsync("/r");
        first.Header("StampedeGuard-Cache-Control").Should().BeNull();
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }

    [Fact]
    public async Task Get_ResponseHeadersTooLarge_NotStored()
    {
        await using var host = await StartAsync(
            ctx =>
            {
                ctx.Response.Headers.CacheControl = "max-age=60";
                ctx.Response.Headers["X-Huge"] = new string('h', 20 * 1024);
            },
            o => o.MaximumHeaderBytes = 16 * 1024);
        (await host.Client.GetAsync("/r")).CacheStatus().Should().Contain("detail=headers-too-large");
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }

    [Fact]
    public async Task Get_HugeRequestHeader_StillServed()
    {
        await using var host = await StartAsync(ctx => ctx.Response.Headers.CacheControl = "max-age=60");
        var response = await host.Client.GetAsync("/r", ("X-Big", new string('x', 100 * 1024)));
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await host.Client.GetBodyAsync("/r", ("X-Big", new string('y', 100 * 1024)))).Body.Should().Be("body1");
    }

    [Fact]
    public async Task Get_DateKept_AndAddedWhenMissing()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            if (ctx.Request.Query.ContainsKey("date"))
            {
                ctx.Response.Headers.Date = "Thu, 01 Jan 2026 00:00:00 GMT";
            }
        });

        await host.Client.GetAsync("/r?date=1");
        _time.Advance(TimeSpan.FromSeconds(5));
        var hit = await host.Client.GetAsync("/r?date=1");
        hit.Headers.Date.Should().Be(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        hit.Headers.Age.Should().Be(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Get_OriginAge_CountsTowardsFreshness()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.Age = "50";
        });
        await host.Client.GetAsync("/r");
        _time.Advance(TimeSpan.FromSeconds(5));
        var hit = await host.Client.GetAsync("/r");
        hit.Headers.Age.Should().Be(TimeSpan.FromSeconds(55));
        _time.Advance(TimeSpan.FromSeconds(6));
        (await host.Client.GetBodyAsync("/r")).Body.Should().Be("body2");
    }
}
