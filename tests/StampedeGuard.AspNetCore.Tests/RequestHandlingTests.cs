using System.Net;
using System.Text;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StampedeGuard.AspNetCore.Caching;
using StampedeGuard.AspNetCore.Internal;
using StampedeGuard.TestSupport;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>Keys, variants, conditional requests, request directives, methods, limits, invalidation, poisoning.</summary>
public sealed class RequestHandlingTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly Origin _origin = new();

    private Task<TestHost> StartAsync(Func<HttpContext, Task> respond, Action<StampedeResponseCachingOptions>? configure = null) =>
        TestHost.StartAsync(
            app =>
            {
                app.MapMethods("/{**path}", ["GET", "HEAD", "POST", "PUT", "DELETE"], async ctx =>
                {
                    using var _ = _origin.Enter();
                    await respond(ctx);
                });
            },
            configure,
            _time);

    private static Func<HttpContext, Task> Cacheable(Origin origin, string extra = "") => ctx =>
    {
        ctx.Response.Headers.CacheControl = "max-age=60";
        return HttpMethods.IsGet(ctx.Request.Method) ? ctx.Response.WriteAsync("v" + origin.Executions + extra) : Task.CompletedTask;
    };

    /// <summary>A cacheable response "v{execution}"; the first execution waits for <paramref name="release"/> before its body.</summary>
    private Func<HttpContext, Task> FirstExecutionHeld(Task release, string? surrogateKey = null) => async ctx =>
    {
        ctx.Response.Headers.CacheControl = "max-age=60";
        if (surrogateKey is not null)
        {
            ctx.Response.Headers["Surrogate-Key"] = surrogateKey;
        }

        if (_origin.Executions == 1)
        {
            await release;
        }

        await ctx.Response.WriteAsync("v" + _origin.Executions);
    };

    [Fact]
    public async Task Head_AnsweredFromStoredGet()
    {
        await using var host = await StartAsync(Cacheable(_origin));
        await host.Client.GetAsync("/a");
        var head = await host.Client.SendAsync(HttpMethod.Head, "/a");
        head.StatusCode.Should().Be(HttpStatusCode.OK);
        head.CacheStatus().Should().Contain("hit");
        head.Content.Headers.ContentLength.Should().Be(2);
        _origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Head_Miss_ForwardedAsHeadAndNothingStored()
    {
        await using var host = await StartAsync(Cacheable(_origin));
        var head = await host.Client.SendAsync(HttpMethod.Head, "/h");
        head.StatusCode.Should().Be(HttpStatusCode.OK);
        head.CacheStatus().Should().Contain("fwd=uri-miss; detail=head");
        (await host.Client.GetAsync("/h")).CacheStatus().Should().Contain("fwd=uri-miss");
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_WithUpgrade_PassedThrough()
    {
        await using var host = await StartAsync(Cacheable(_origin));
        var response = await host.Client.GetAsync("/u", ("Upgrade", "websocket"), ("Connection", "Upgrade"));
        response.CacheStatus().Should().Contain("fwd=bypass; detail=upgrade");
    }

    [Fact]
    public async Task Get_QueryOrder_NormalisedByDefault_ExactWhenConfigured()
    {
        await using (var host = await StartAsync(Cacheable(_origin)))
        {
            await host.Client.GetAsync("/q?a=1&b=2");
            (await host.Client.GetBodyAsync("/q?b=2&a=1")).Body.Should().Be("v1");
        }

        await using (var exact = await StartAsync(Cacheable(_origin), o => o.QueryKeyMode = QueryKeyMode.Exact))
        {
            await exact.Client.GetAsync("/q?a=1&b=2");
            (await exact.Client.GetBodyAsync("/q?b=2&a=1")).Body.Should().Be("v3");
        }
    }

    [Fact]
    public async Task Get_QueryAllowList_IgnoresOtherParameters()
    {
        await using var host = await StartAsync(Cacheable(_origin), o =>
        {
            o.QueryKeyMode = QueryKeyMode.AllowList;
            o.QueryKeys.Add("page");
        });
        await host.Client.GetAsync("/q?page=1&utm_source=x");
        (await host.Client.GetBodyAsync("/q?page=1&utm_source=y")).Body.Should().Be("v1");
        (await host.Client.GetBodyAsync("/q?page=2")).Body.Should().Be("v2");
    }

    [Fact]
    public async Task Get_Vary_KeepsOneVariantPerSelectingHeaderValue()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.Vary = "Accept-Language";
            return ctx.Response.WriteAsync(ctx.Request.Headers.AcceptLanguage + _origin.Executions);
        });

        (await host.Client.GetBodyAsync("/v", ("Accept-Language", "en"))).Body.Should().Be("en1");
        (await host.Client.GetBodyAsync("/v", ("Accept-Language", "fr"))).Body.Should().Be("fr2");
        var en = await host.Client.GetBodyAsync("/v", ("Accept-Language", "en"));
        en.Body.Should().Be("en1");
        en.Response.CacheStatus().Should().Contain("hit");
        (await host.Client.GetBodyAsync("/v", ("Accept-Language", "fr"))).Body.Should().Be("fr2");
        var none = await host.Client.GetBodyAsync("/v");
        none.Body.Should().Be("3");
        none.Response.CacheStatus().Should().Contain("fwd=vary-miss");
    }

    [Fact]
    public async Task Get_CollapsedWaiterWithOtherVariant_GetsItsOwnResponse()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await StartAsync(async ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.Vary = "Accept-Language";
            await ctx.Response.StartAsync();
            await gate.Task;
            await ctx.Response.WriteAsync(ctx.Request.Headers.AcceptLanguage.ToString());
        });

        var en = host.Client.GetBodyAsync("/v", ("Accept-Language", "en"));
        await _origin.Entered.Task;
        var fr = host.Client.GetBodyAsync("/v", ("Accept-Language", "fr"));
        var en2 = host.Client.GetBodyAsync("/v", ("Accept-Language", "en"));
        await CollapsingTests.WaitUntilAsync(() => _origin.Executions >= 2);
        await Task.Delay(100); // a third execution (en2 not collapsed) would show in the count
        gate.SetResult();

        (await en).Body.Should().Be("en");
        (await fr).Body.Should().Be("fr");
        (await en2).Body.Should().Be("en");
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_VaryStar_NeverMatches()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.Vary = "*";
            return ctx.Response.WriteAsync("x");
        });
        (await host.Client.GetAsync("/s")).CacheStatus().Should().Contain("detail=vary-star");
        await host.Client.GetAsync("/s");
        _origin.Executions.Should().Be(2);
    }

    [Theory]
    [InlineData("\"v1\"", null, HttpStatusCode.NotModified)]
    [InlineData("W/\"v1\"", null, HttpStatusCode.NotModified)] // weak comparison
    [InlineData("\"other\", \"v1\"", null, HttpStatusCode.NotModified)]
    [InlineData("*", null, HttpStatusCode.NotModified)]
    [InlineData("\"other\"", null, HttpStatusCode.OK)]
    [InlineData(null, "Thu, 01 Jan 2026 00:00:00 GMT", HttpStatusCode.NotModified)]
    [InlineData(null, "Wed, 31 Dec 2025 00:00:00 GMT", HttpStatusCode.OK)]
    [InlineData(null, "garbage", HttpStatusCode.OK)]
    [InlineData("\"other\"", "Thu, 01 Jan 2026 00:00:00 GMT", HttpStatusCode.OK)] // If-None-Match wins
    public async Task Get_ConditionalRequest_AnsweredFromCache(string? ifNoneMatch, string? ifModifiedSince, HttpStatusCode expected)
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.ETag = "\"v1\"";
            ctx.Response.Headers.LastModified = "Wed, 31 Dec 2025 12:00:00 GMT";
            return ctx.Response.WriteAsync("body");
        });
        await host.Client.GetAsync("/c");

        var headers = new List<(string, string)>();
        if (ifNoneMatch is not null)
        {
            headers.Add(("If-None-Match", ifNoneMatch));
        }

        if (ifModifiedSince is not null)
        {
            headers.Add(("If-Modified-Since", ifModifiedSince));
        }

        var response = await host.Client.GetAsync("/c", [.. headers]);
        response.StatusCode.Should().Be(expected);
        response.CacheStatus().Should().Contain("hit");
        if (expected == HttpStatusCode.NotModified)
        {
            response.Headers.ETag!.Tag.Should().Be("\"v1\"");
            (await response.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
        }

        _origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_ConditionalMiss_OriginGetsAFullRequestAndTheClientA304()
    {
        string? seen = null;
        await using var host = await StartAsync(ctx =>
        {
            seen = ctx.Request.Headers.IfNoneMatch;
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.ETag = "\"v1\"";
            return ctx.Response.WriteAsync("body");
        });
        var response = await host.Client.GetAsync("/c", ("If-None-Match", "\"v1\""));
        response.StatusCode.Should().Be(HttpStatusCode.NotModified);
        seen.Should().BeNullOrEmpty();
        (await host.Client.GetBodyAsync("/c")).Body.Should().Be("body");
        _origin.Executions.Should().Be(1);
    }

    [Fact]
    public async Task Get_OnlyIfCached_504OnMissAndHitWhenStored()
    {
        await using var host = await StartAsync(Cacheable(_origin));
        var miss = await host.Client.GetAsync("/o", ("Cache-Control", "only-if-cached"));
        miss.StatusCode.Should().Be(HttpStatusCode.GatewayTimeout);
        miss.CacheStatus().Should().Contain("detail=only-if-cached");
        _origin.Executions.Should().Be(0);

        await host.Client.GetAsync("/o");
        (await host.Client.GetAsync("/o", ("Cache-Control", "only-if-cached"))).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("Cache-Control", "no-cache")]
    [InlineData("Cache-Control", "max-age=0")]
    [InlineData("Pragma", "no-cache")]
    public async Task Get_ClientNoCache_IgnoredByDefault_HonouredWhenAllowed(string name, string value)
    {
        await using (var host = await StartAsync(Cacheable(_origin)))
        {
            await host.Client.GetAsync("/n");
            (await host.Client.GetAsync("/n", (name, value))).CacheStatus().Should().Contain("hit");
            _origin.Executions.Should().Be(1);
        }

        await using (var bypass = await StartAsync(Cacheable(_origin), o => o.AllowClientBypass = true))
        {
            await bypass.Client.GetAsync("/n");
            var forced = await bypass.Client.GetBodyAsync("/n", (name, value));
            forced.Response.CacheStatus().Should().Contain("fwd=request");
            forced.Body.Should().Be("v3");
            (await bypass.Client.GetBodyAsync("/n")).Body.Should().Be("v3");
        }
    }

    [Fact]
    public async Task Get_Range_PassedThroughAnd206NeverStored()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            if (ctx.Request.Headers.Range.Count > 0)
            {
                ctx.Response.StatusCode = 206;
                ctx.Response.Headers.ContentRange = "bytes 0-0/4";
                return ctx.Response.WriteAsync("p");
            }

            return ctx.Response.WriteAsync("full");
        });

        var partial = await host.Client.GetBodyAsync("/g", ("Range", "bytes=0-0"));
        partial.Response.StatusCode.Should().Be(HttpStatusCode.PartialContent);
        partial.Response.CacheStatus().Should().Contain("fwd=bypass; detail=range");
        var full = await host.Client.GetBodyAsync("/g");
        full.Response.StatusCode.Should().Be(HttpStatusCode.OK);
        full.Body.Should().Be("full");
        full.Response.CacheStatus().Should().Contain("fwd=uri-miss");
    }

    [Fact]
    public async Task Post_Successful_InvalidatesUrlAndSameOriginLocation()
    {
        await using var host = await StartAsync(ctx =>
        {
            if (HttpMethods.IsPost(ctx.Request.Method))
            {
                ctx.Response.StatusCode = 201;
                ctx.Response.Headers.Location = "/items/2";
                ctx.Response.Headers.ContentLocation = "http://elsewhere.example/items/1";
                return Task.CompletedTask;
            }

            ctx.Response.Headers.CacheControl = "max-age=60";
            return ctx.Response.WriteAsync("v" + _origin.Executions);
        });

        await host.Client.GetAsync("/items/1");
        await host.Client.GetAsync("/items/2");
        await host.Client.GetAsync("/items/3");
        _time.Advance(TimeSpan.FromMilliseconds(1)); // the engine invalidates entries created strictly before the invalidation
        var post = await host.Client.PostAsync("/items/1", new StringContent("x"));
        post.CacheStatus().Should().Contain("fwd=method");

        (await host.Client.GetBodyAsync("/items/1")).Body.Should().Be("v5");
        (await host.Client.GetBodyAsync("/items/2")).Body.Should().Be("v6");
        (await host.Client.GetBodyAsync("/items/3")).Body.Should().Be("v3");
    }

    [Fact]
    public async Task Post_Failed_DoesNotInvalidate()
    {
        await using var host = await StartAsync(ctx =>
        {
            if (HttpMethods.IsPost(ctx.Request.Method))
            {
                ctx.Response.StatusCode = 500;
                return Task.CompletedTask;
            }

            ctx.Response.Headers.CacheControl = "max-age=60";
            return ctx.Response.WriteAsync("v" + _origin.Executions);
        });
        await host.Client.GetAsync("/p");
        await host.Client.PostAsync("/p", new StringContent("x"));
        (await host.Client.GetBodyAsync("/p")).Body.Should().Be("v1");
    }

    [Fact]
    public async Task Get_BodyOverLimit_StreamsThroughUncachedAndMarksHitForPass()
    {
        var payload = new string('z', 10_000);
        await using var host = await StartAsync(
            async ctx =>
            {
                ctx.Response.Headers.CacheControl = "max-age=60";
                for (var i = 0; i < 10; i++)
                {
                    await ctx.Response.WriteAsync(payload.Substring(i * 1000, 1000)); // chunked: no Content-Length
                }
            },
            o => o.MaximumBodySize = 4096);

        var first = await host.Client.GetBodyAsync("/big");
        first.Body.Should().Be(payload);
        var second = await host.Client.GetBodyAsync("/big");
        second.Body.Should().Be(payload);
        second.Response.CacheStatus().Should().Contain("hit-for-pass");
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_BodyShorterThanContentLength_NeverStored()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.ContentLength = 10;
            return ctx.Response.WriteAsync("short");
        });
        var act = async () => await host.Client.GetStringAsync("/short");
        await act.Should().ThrowAsync<HttpRequestException>();
        await act.Should().ThrowAsync<HttpRequestException>();
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task Get_ContentLengthOverLimit_NotStored()
    {
        await using var host = await StartAsync(
            ctx =>
            {
                ctx.Response.Headers.CacheControl = "max-age=60";
                ctx.Response.ContentLength = 5000;
                return ctx.Response.WriteAsync(new string('z', 5000));
            },
            o => o.MaximumBodySize = 4096);
        (await host.Client.GetAsync("/big")).CacheStatus().Should().Contain("detail=too-large");
    }

    [Fact]
    public async Task Get_EveryResponseHasCacheStatus()
    {
        await using var host = await StartAsync(Cacheable(_origin));
        (await host.Client.GetAsync("/e")).CacheStatus().Should().StartWith("StampedeGuard; fwd=uri-miss");
        (await host.Client.GetAsync("/e")).CacheStatus().Should().StartWith("StampedeGuard; hit");
        _time.Advance(TimeSpan.FromMilliseconds(1)); // the engine invalidates entries created strictly before the invalidation
        (await host.Client.SendAsync(HttpMethod.Delete, "/e")).CacheStatus().Should().Be("StampedeGuard; fwd=method");
        (await host.Client.GetAsync("/e")).CacheStatus().Should().StartWith("StampedeGuard; fwd=uri-miss", "the DELETE purged it");
        (await host.Client.GetAsync("/e", ("Range", "bytes=0-1"))).CacheStatus().Should().Be("StampedeGuard; hit; ttl=60; detail=range");
        (await host.Client.GetAsync("/f", ("Range", "bytes=0-1"))).CacheStatus().Should().Be("StampedeGuard; fwd=bypass; detail=range");
    }

    [Fact]
    public async Task Get_ForgedHostHeader_CannotPoisonTheRealHostsEntry()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            return ctx.Response.WriteAsync("link:" + ctx.Request.Host);
        });
        var real = host.Address.Authority;

        var attack = await host.Client.GetBodyAsync("/p", ("Host", "evil.example"));
        attack.Body.Should().Be("link:evil.example");
        var victim = await host.Client.GetBodyAsync("/p");
        victim.Body.Should().Be("link:" + real);
        victim.Response.CacheStatus().Should().Contain("fwd=uri-miss");
    }

    [Theory]
    [InlineData("X-Forwarded-Host")]
    [InlineData("X-Original-URL")]
    [InlineData("X-HTTP-Method-Override")]
    [InlineData("Forwarded")]
    public async Task Get_UnkeyedHeaderReflectedByTheApp_CannotPoisonOtherClients(string header)
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            return ctx.Response.WriteAsync("script-from:" + ctx.Request.Headers[header]); // an app trusting the header
        });

        var attack = await host.Client.GetBodyAsync("/home", (header, "evil.example"));
        attack.Body.Should().Be("script-from:evil.example");
        var victim = await host.Client.GetBodyAsync("/home");
        victim.Body.Should().Be("script-from:");
        var attackAgain = await host.Client.GetBodyAsync("/home", (header, "evil.example"));
        attackAgain.Response.CacheStatus().Should().Contain("hit");
        (await host.Client.GetBodyAsync("/home")).Body.Should().Be("script-from:");
    }

    [Fact]
    public async Task Purge_ByUrlAndByTag_RemovesEveryVariant()
    {
        await using var host = await StartAsync(ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.Vary = "Accept-Language";
            ctx.Response.Headers["Surrogate-Key"] = "products product-1";
            return ctx.Response.WriteAsync("v" + _origin.Executions);
        });
        var cache = host.App.Services.GetRequiredService<IStampedeResponseCache>();

        var first = await host.Client.GetAsync("/product/1", ("Accept-Language", "en"));
        first.Header("Surrogate-Key").Should().BeNull();
        await host.Client.GetAsync("/product/1", ("Accept-Language", "fr"));
        _time.Advance(TimeSpan.FromMilliseconds(1)); // the engine invalidates entries created strictly before the invalidation
        await cache.PurgeAsync(new Uri(host.Address, "/product/1"));
        (await host.Client.GetBodyAsync("/product/1", ("Accept-Language", "en"))).Body.Should().Be("v3");
        (await host.Client.GetBodyAsync("/product/1", ("Accept-Language", "fr"))).Body.Should().Be("v4");

        _time.Advance(TimeSpan.FromMilliseconds(1));
        await cache.RemoveByTagAsync("product-1");
        _time.Advance(TimeSpan.FromMilliseconds(1));
        (await host.Client.GetBodyAsync("/product/1", ("Accept-Language", "en"))).Body.Should().Be("v5");
    }

    [Fact]
    public async Task Purge_WhileTheOriginRuns_WhatItFetchedIsNotStored()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await StartAsync(FirstExecutionHeld(gate.Task));

        var inFlight = host.Client.GetBodyAsync("/race");
        await _origin.Entered.Task;
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await host.App.Services.GetRequiredService<IStampedeResponseCache>().PurgeAsync(new Uri(host.Address, "/race"));
        gate.SetResult();
        (await inFlight).Body.Should().Be("v1"); // its client is still answered

        (await host.Client.GetBodyAsync("/race")).Body.Should().Be("v2");
    }

    /// <summary>
    /// A purge by a custom tag (one the response will carry, unknown to the cache until its headers arrive) while the
    /// origin runs: what the origin answered from before the purge is not stored (the engine's store gate; the URL
    /// registry only knew URL purges).
    /// </summary>
    [Fact]
    public async Task PurgeByCustomTag_WhileTheOriginRuns_WhatItFetchedIsNotStored()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await StartAsync(FirstExecutionHeld(gate.Task, surrogateKey: "catalog"));

        var inFlight = host.Client.GetBodyAsync("/tagged");
        await _origin.Entered.Task;
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await host.App.Services.GetRequiredService<IStampedeResponseCache>().RemoveByTagAsync("catalog");
        gate.SetResult();
        (await inFlight).Body.Should().Be("v1"); // its client is still answered

        var next = await host.Client.GetBodyAsync("/tagged");
        next.Body.Should().Be("v2", "the response fetched before the purge must not have been stored");
        _origin.Executions.Should().Be(2);
    }

    /// <summary>
    /// A request that arrives after a purge returned must not join the execution the purge superseded (its response
    /// was fetched before the purge): it gets an execution of its own, which is the one stored. Without the shared
    /// flight core the purged execution stayed joinable, and this request waited for it and got its old body.
    /// </summary>
    [Fact]
    public async Task Purge_WhileTheOriginRuns_ARequestAfterThePurgeDoesNotJoinThePurgedExecution()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var executions = 0;
        await using var host = await StartAsync(async ctx =>
        {
            var execution = Interlocked.Increment(ref executions); // the body names the execution that fetched it
            ctx.Response.Headers.CacheControl = "max-age=60";
            if (execution == 1)
            {
                entered.SetResult(); // only once its number is taken: the next execution cannot take it
                await gate.Task;
            }

            await ctx.Response.WriteAsync("v" + execution);
        });

        var inFlight = host.Client.GetBodyAsync("/race");
        await entered.Task;
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await host.App.Services.GetRequiredService<IStampedeResponseCache>().PurgeAsync(new Uri(host.Address, "/race"));

        // The first execution is still held: had this request joined it, it could not finish before the gate opens.
        var after = await host.Client.GetBodyAsync("/race").WaitAsync(TimeSpan.FromSeconds(30));
        after.Body.Should().Be("v2");

        gate.SetResult();
        (await inFlight).Body.Should().Be("v1"); // the purged execution still answers the client that joined it
        var next = await host.Client.GetUntilHitAsync("/race");
        next.Response.CacheStatus().Should().Contain("hit");
        next.Body.Should().Be("v2", "the purged execution stores nothing over the newer response");
        _origin.Executions.Should().Be(2);
    }

    /// <summary>
    /// Code written against Microsoft's <see cref="Microsoft.Extensions.Caching.Hybrid.HybridCache"/> (registered by
    /// <c>AddStampedeGuard()</c> over the engine the response cache stores in), or against the engine, purges a
    /// <c>Surrogate-Key</c> while the origin runs: the engine's tag invalidation reaches the execution in flight like a
    /// purge through the response cache's own API. A request after it gets an execution of its own, and the older response is stored nowhere.
    /// </summary>
    [Theory]
    [InlineData("HybridCache")]
    [InlineData("IStampedeCache")]
    [InlineData("IStampedeResponseCache")]
    public async Task RemoveByTag_FromAnyApiWhileTheOriginRuns_SupersedesTheExecution(string api)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var executions = 0;
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/{**path}", async ctx =>
            {
                using var _ = _origin.Enter();
                var execution = Interlocked.Increment(ref executions);
                ctx.Response.Headers.CacheControl = "max-age=60";
                ctx.Response.Headers["Surrogate-Key"] = "catalog";
                await ctx.Response.StartAsync(); // the head goes out: the execution's tags are known
                if (execution == 1)
                {
                    await gate.Task;
                }

                await ctx.Response.WriteAsync("v" + execution);
            }),
            time: _time,
            services: s =>
            {
                s.RemoveAll<IStampedeCache>(); // the host's own engine: here AddStampedeGuard's serves both APIs
                s.AddStampedeGuard();
            });
        var flights = host.App.Services.GetRequiredService<FlightRegistry>().Flights;
        host.App.Services.GetRequiredService<IStampedeCache>().Should().BeSameAs(host.App.Services.GetRequiredService<StampedeCache>());

        var inFlight = host.Client.GetBodyAsync("/hybrid");
        await Poll.UntilAsync(() => flights.Oldest(f => f.HasTag("catalog") ? 0 : long.MaxValue) == 0, "the execution knows its response's tags");
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await (api switch
        {
            "HybridCache" => host.App.Services.GetRequiredService<Microsoft.Extensions.Caching.Hybrid.HybridCache>().RemoveByTagAsync("catalog"),
            "IStampedeCache" => host.App.Services.GetRequiredService<IStampedeCache>().RemoveByTagAsync("catalog"),
            _ => host.App.Services.GetRequiredService<IStampedeResponseCache>().RemoveByTagAsync("catalog"),
        });

        var after = await host.Client.GetBodyAsync("/hybrid").WaitAsync(TimeSpan.FromSeconds(30));
        after.Body.Should().Be("v2", "a request after the purge must not join the execution it superseded");
        gate.SetResult();
        (await inFlight).Body.Should().Be("v1");
        var next = await host.Client.GetUntilHitAsync("/hybrid");
        next.Body.Should().Be("v2", "the superseded execution stores nothing over the newer response");
        executions.Should().Be(2);
    }

    /// <summary>
    /// A purge that meets the execution's store under way (forced: the app's own <see cref="IStampedeCache"/> holds the
    /// store) waits for that store and then applies, so the purge that returned wins even where the cache offers no
    /// conditional write. Without the flight's store gate the purge removed first and the held store landed after it.
    /// </summary>
    [Fact]
    public async Task Purge_MeetingTheStoreUnderWay_WaitsForItAndWins()
    {
        using var engine = new StampedeCache(new StampedeCacheOptions { TimeProvider = _time });
        var held = new StoreHoldingCache(engine, afterHeldStore: () => _time.Advance(TimeSpan.FromMilliseconds(1)));
        await using var host = await TestHost.StartAsync(
            app => app.MapGet("/{**path}", async ctx =>
            {
                using var _ = _origin.Enter();
                ctx.Response.Headers.CacheControl = "max-age=60";
                await ctx.Response.WriteAsync("v" + _origin.Executions);
            }),
            time: _time,
            services: s => s.AddSingleton<IStampedeCache>(held));

        var first = host.Client.GetBodyAsync("/stored");
        await held.StoreEntered.Task; // the response is complete and its store is under way
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var purge = host.App.Services.GetRequiredService<IStampedeResponseCache>().PurgeAsync(new Uri(host.Address, "/stored")).AsTask();

        // Let the held store go once the purge has reached it: it either waits for the store (the flight was
        // superseded and left the registry) or, without the gate, has already removed the URL's entries.
        var registry = host.App.Services.GetRequiredService<FlightRegistry>();
        while (!registry.Flights.IsEmpty && !held.RemovedByTag)
        {
            await Task.Yield();
        }

        held.ReleaseStore.SetResult();
        await purge;
        (await first).Body.Should().Be("v1");

        var next = await host.Client.GetBodyAsync("/stored");
        next.Body.Should().Be("v2", "the purge returned after the store it met, so that store must not survive it");
        _origin.Executions.Should().Be(2);
    }

    /// <summary>
    /// An application's own cache over the engine whose first store of a response is held until released; the clock
    /// moves on after that store (<paramref name="afterHeldStore"/>), so an invalidation after it is later on the clock.
    /// </summary>
    private sealed class StoreHoldingCache(StampedeCache inner, Action afterHeldStore) : IStampedeCache
    {
        private int _stores;

        public TaskCompletionSource StoreEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ReleaseStore { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool RemovedByTag { get; private set; }

        public ValueTask<T> GetOrCreateAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.GetOrCreateAsync(key, factory, options, cancellationToken);

        public ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.GetOrCreateAsync(key, state, factory, options, cancellationToken);

        public ValueTask<StampedeCacheLookup<T>> TryGetAsync<T>(string key, CancellationToken cancellationToken = default) => inner.TryGetAsync<T>(key, cancellationToken);

        public ValueTask<StampedeCacheLookup<T>> TryGetAsync<T>(string key, StampedeCacheEntryOptions? options, CancellationToken cancellationToken = default) =>
            inner.TryGetAsync<T>(key, options, cancellationToken);

        public async ValueTask SetAsync<T>(string key, T value, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (value is CachedResponse { Kind: CachedResponseKind.Response } && Interlocked.Increment(ref _stores) == 1)
            {
                StoreEntered.SetResult();
                await ReleaseStore.Task;
                await inner.SetAsync(key, value, options, cancellationToken);
                afterHeldStore();
                return;
            }

            await inner.SetAsync(key, value, options, cancellationToken);
        }

        public ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => inner.RemoveAsync(key, cancellationToken);

        public ValueTask ExpireAsync(string key, CancellationToken cancellationToken = default) => inner.ExpireAsync(key, cancellationToken);

        public ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
        {
            RemovedByTag = true;
            return inner.RemoveByTagAsync(tag, cancellationToken);
        }
    }

    [Fact]
    public async Task Get_EndpointMetadata_SetsFreshnessAndDisables()
    {
        await using var host = await TestHost.StartAsync(
            app =>
            {
                app.MapGet("/meta", async ctx =>
                {
                    using var _ = _origin.Enter();
                    await ctx.Response.WriteAsync("m" + _origin.Executions);
                }).CacheResponses(p => p.DurationSeconds = 30);
                app.MapGet("/off", async ctx =>
                {
                    using var _ = _origin.Enter();
                    ctx.Response.Headers.CacheControl = "max-age=60";
                    await ctx.Response.WriteAsync("o");
                }).DisableResponseCaching();
            },
            time: _time);

        await host.Client.GetAsync("/meta");
        (await host.Client.GetBodyAsync("/meta")).Body.Should().Be("m1");
        _time.Advance(TimeSpan.FromSeconds(31));
        (await host.Client.GetBodyAsync("/meta")).Body.Should().Be("m2");

        await host.Client.GetAsync("/off");
        var off = await host.Client.GetAsync("/off");
        off.CacheStatus().Should().Contain("detail=disabled");
        _origin.Executions.Should().Be(4);
    }

    [Fact]
    public async Task Get_OriginFailsMidBody_ClientSeesAnAbortedResponseAndNothingIsStored()
    {
        await using var host = await StartAsync(async ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("partial");
            await ctx.Response.Body.FlushAsync();
            if (_origin.Executions == 1)
            {
                throw new InvalidOperationException("broke mid-body");
            }

            await ctx.Response.WriteAsync("-rest");
        });

        var act = async () => await host.Client.GetStringAsync("/broken");
        await act.Should().ThrowAsync<HttpRequestException>();
        (await host.Client.GetBodyAsync("/broken")).Body.Should().Be("partial-rest");
    }
}
