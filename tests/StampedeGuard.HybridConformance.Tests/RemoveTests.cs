namespace StampedeGuard.HybridConformance.Tests;

/// <summary>Microsoft's FunctionalTests: RemoveAsync of one key, of no keys, and of several keys at once.</summary>
public sealed class RemoveTests
{
    [Theory]
    [Both]
    public async Task RemoveAsync_SingleKey_NextCallRunsTheFactory(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var first = await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Guid.NewGuid()));
        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().Be(first);

        await host.Cache.RemoveAsync("key");

        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().NotBe(first);
    }

    [Theory]
    [Both]
    public async Task RemoveAsync_NoKeys_RemovesNothing(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var first = await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Guid.NewGuid()));

        await host.Cache.RemoveAsync(Array.Empty<string>());

        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().Be(first);
    }

    [Theory]
    [Both]
    public async Task RemoveAsync_SeveralKeys_RemovesExactlyThose(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var values = new Dictionary<string, Guid>();
        foreach (var key in new[] { "a", "b", "c" })
        {
            values[key] = await host.Cache.GetOrCreateAsync(key, _ => ValueTask.FromResult(Guid.NewGuid()));
        }

        await host.Cache.RemoveAsync(["a", "c"]);

        (await host.Cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().NotBe(values["a"]);
        (await host.Cache.GetOrCreateAsync("b", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().Be(values["b"]);
        (await host.Cache.GetOrCreateAsync("c", _ => ValueTask.FromResult(Guid.NewGuid()))).Should().NotBe(values["c"]);
    }

    [Theory]
    [Both]
    public async Task SetAsync_ThenGetOrCreateAsync_ReturnsTheSetValueWithoutTheFactory(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        await host.Cache.SetAsync("key", "set");

        var value = await host.Cache.GetOrCreateAsync<string>("key", _ => throw new InvalidOperationException("must not run"));

        value.Should().Be("set");
    }

    [Theory]
    [Both]
    public async Task SetAsync_OverExistingValue_Replaces(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(1));

        await host.Cache.SetAsync("key", 2);

        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(3))).Should().Be(2);
    }
}
