using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StampedeGuard.Distributed;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>Stored responses go through the engine: with a distributed tier, every instance serves what one stored.</summary>
public sealed class DistributedTests
{
    [Fact]
    public async Task Get_StoredByOneInstance_IsAHitOnAnother()
    {
        var shared = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        var origin = new Origin();
        void Endpoints(WebApplication app) => app.MapGet("/shared", async ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers.Vary = "Accept-Language";
            ctx.Response.Headers.ETag = "\"e1\"";
            ctx.Response.ContentType = "text/plain; charset=utf-8";
            await ctx.Response.WriteAsync("héllo " + ctx.Request.Headers.AcceptLanguage);
        });
        void Services(IServiceCollection s) => s.AddSingleton<IStampedeCache>(_ => new StampedeCache(distributedStore: new DistributedCacheStore(shared)));

        await using var a = await TestHost.StartAsync(Endpoints, services: Services);
        await using var b = await TestHost.StartAsync(Endpoints, services: Services);

        (await a.Client.GetBodyAsync("/shared", ("Accept-Language", "en"), ("Host", "shop.example"))).Body.Should().Be("héllo en");
        var hit = await b.Client.GetBodyAsync("/shared", ("Accept-Language", "en"), ("Host", "shop.example"));
        hit.Body.Should().Be("héllo en");
        hit.Response.CacheStatus().Should().Contain("hit");
        hit.Response.Headers.ETag!.Tag.Should().Be("\"e1\"");
        hit.Response.Content.Headers.ContentType!.ToString().Should().Be("text/plain; charset=utf-8");
        origin.Executions.Should().Be(1);

        (await b.Client.GetBodyAsync("/shared", ("Accept-Language", "fr"), ("Host", "shop.example"))).Response.CacheStatus().Should().Contain("fwd=vary-miss");
        (await a.Client.GetBodyAsync("/shared", ("Accept-Language", "fr"), ("Host", "shop.example"))).Response.CacheStatus().Should().Contain("hit");
        origin.Executions.Should().Be(2);
    }
}
