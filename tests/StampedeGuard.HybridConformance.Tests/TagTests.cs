using Microsoft.Extensions.Caching.Distributed;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's LocalInvalidationTests and TagSet rules: RemoveByTagAsync invalidates the entries carrying the tag
/// (with or without L2, with extra tags), <c>"*"</c> invalidates everything, a tag the entry lacks does nothing, and
/// an entry's tags may not be blank or <c>"*"</c>. The clock moves a tick between steps, as time does.
/// </summary>
public sealed class TagTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(1);

    [Theory]
    [Both]
    public async Task RemoveByTagAsync_Wildcard_InvalidatesEntriesWithoutTags(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var value = await Get(host, "key", null);
        host.Clock.Advance(Tick);

        await host.Cache.RemoveByTagAsync("foo");
        host.Clock.Advance(Tick);
        (await Get(host, "key", null)).Should().Be(value, "an unrelated tag changes nothing");

        await host.Cache.RemoveByTagAsync("*");
        host.Clock.Advance(Tick);
        var renewed = await Get(host, "key", null);

        renewed.Should().NotBe(value);
        (await Get(host, "key", null)).Should().Be(renewed, "the new value is cached again");
    }

    [Theory]
    [Both(false, false)]
    [Both(true, false)]
    [Both(false, true)]
    [Both(true, true)]
    public async Task RemoveByTagAsync_TagOfTheEntry_InvalidatesIt(Implementation implementation, bool withL2, bool withExtraTag)
    {
        var l2 = new SharedL2();
        using var host = HybridHost.Create(implementation, s =>
        {
            if (withL2)
            {
                s.AddSingleton<IDistributedCache>(l2);
            }
        });
        string[] tags = withExtraTag ? ["abc", "other"] : ["abc"];
        var value = await Get(host, "key", tags);
        host.Clock.Advance(Tick);
        (await Get(host, "key", tags)).Should().Be(value);

        await host.Cache.RemoveByTagAsync("foo");
        host.Clock.Advance(Tick);
        (await Get(host, "key", tags)).Should().Be(value);

        await host.Cache.RemoveByTagAsync("abc");
        host.Clock.Advance(Tick);
        var renewed = await Get(host, "key", tags);
        renewed.Should().NotBe(value);
        (await Get(host, "key", tags)).Should().Be(renewed);

        await host.Cache.RemoveByTagAsync("*");
        host.Clock.Advance(Tick);
        var again = await Get(host, "key", tags);
        again.Should().NotBe(renewed);
        (await Get(host, "key", tags)).Should().Be(again);
    }

    [Theory]
    [Both("")]
    [Both(" ")]
    [Both("*")]
    public async Task GetOrCreateAsync_InvalidTag_ThrowsArgumentExceptionNamingTags(Implementation implementation, string tag)
    {
        using var host = HybridHost.Create(implementation);

        var act = async () => await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(1), tags: [tag]);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("tags");
    }

    [Theory]
    [Both("")]
    [Both("*")]
    public async Task SetAsync_InvalidTag_ThrowsArgumentExceptionNamingTags(Implementation implementation, string tag)
    {
        using var host = HybridHost.Create(implementation);

        var act = async () => await host.Cache.SetAsync("key", 1, tags: [tag]);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("tags");
    }

    [Theory]
    [Both("")]
    [Both("   ")]
    public async Task RemoveByTagAsync_BlankTag_DoesNothing(Implementation implementation, string tag)
    {
        using var host = HybridHost.Create(implementation);
        var value = await Get(host, "key", ["t"]);
        host.Clock.Advance(Tick);

        await host.Cache.RemoveByTagAsync(tag);
        host.Clock.Advance(Tick);

        (await Get(host, "key", ["t"])).Should().Be(value);
    }

    [Theory]
    [Both]
    public async Task RemoveByTagAsync_SetAsyncWithTags_Invalidates(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        await host.Cache.SetAsync("key", "set", tags: ["t"]);
        host.Clock.Advance(Tick);

        await host.Cache.RemoveByTagAsync("t");
        host.Clock.Advance(Tick);

        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult("factory"))).Should().Be("factory");
    }

    /// <summary>Reads (or creates) the value, then lets a tick pass: nothing in these tests happens at the same instant.</summary>
    private static async Task<Guid> Get(HybridHost host, string key, string[]? tags)
    {
        var value = await host.Cache.GetOrCreateAsync(key, _ => ValueTask.FromResult(Guid.NewGuid()), tags: tags);
        host.Clock.Advance(Tick);
        return value;
    }
}
