using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's SizeTests: invalid keys (null, empty, white space, control characters, over MaximumKeyLength) are not
/// cached: the factory runs each time and nothing throws. An IMemoryCache SizeLimit counts payload bytes; a payload
/// over MaximumPayloadBytes is still kept in L1.
/// </summary>
public sealed class KeyAndSizeTests
{
    public static TheoryData<Implementation, string?, long?, bool, long?, int?> Cases()
    {
        var data = new TheoryData<Implementation, string?, long?, bool, long?, int?>();
        foreach (var implementation in Enum.GetValues<Implementation>())
        {
            data.Add(implementation, "abc", null, true, null, null);        // no limits
            data.Add(implementation, "", null, false, null, null);          // invalid key
            data.Add(implementation, "  ", null, false, null, null);        // invalid key
            data.Add(implementation, null, null, false, null, null);        // invalid key
            data.Add(implementation, "abc", 1024L, true, null, null);       // roomy size limit
            data.Add(implementation, "abc", 1024L, true, 8L, null);         // over MaximumPayloadBytes: still in L1
            data.Add(implementation, "abc", null, false, null, 2);          // over MaximumKeyLength
            data.Add(implementation, "a\u0000c", null, false, null, null);  // control character
            data.Add(implementation, "a\u001Fc", null, false, null, null);  // control character
            data.Add(implementation, "a\u0020c", null, true, null, null);   // a space is fine
        }

        return data;
    }

    public static TheoryData<Implementation> Implementations() => [.. Enum.GetValues<Implementation>()];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task GetOrCreateAsync_String_CachedOnlyWhenKeyAndSizeAllow(Implementation implementation, string? key, long? sizeLimit, bool expectCached, long? maximumPayloadBytes, int? maximumKeyLength)
    {
        using var host = Host(implementation, sizeLimit, maximumPayloadBytes, maximumKeyLength);
        var expected = new string("simple value".ToArray());

        var first = await host.Cache.GetOrCreateAsync<string>(key!, _ => ValueTask.FromResult(expected));
        var second = await host.Cache.GetOrCreateAsync<string>(key!, _ => ValueTask.FromResult(Guid.NewGuid().ToString()));

        first.Should().BeSameAs(expected, "strings need no defensive copy");
        if (expectCached)
        {
            second.Should().BeSameAs(expected);
        }
        else
        {
            second.Should().NotBe(expected);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task GetOrCreateAsync_Mutable_CachedOnlyWhenKeyAndSizeAllow(Implementation implementation, string? key, long? sizeLimit, bool expectCached, long? maximumPayloadBytes, int? maximumKeyLength)
    {
        using var host = Host(implementation, sizeLimit, maximumPayloadBytes, maximumKeyLength);
        var expected = new MutablePoco { Value = "simple value" };

        var first = await host.Cache.GetOrCreateAsync<MutablePoco>(key!, _ => ValueTask.FromResult(expected));
        var second = await host.Cache.GetOrCreateAsync<MutablePoco>(key!, _ => ValueTask.FromResult(new MutablePoco { Value = Guid.NewGuid().ToString() }));

        first.Value.Should().Be("simple value");
        if (expectCached)
        {
            second.Value.Should().Be("simple value");
        }
        else
        {
            second.Value.Should().NotBe("simple value");
        }
    }

    [Theory]
    [Both(false, NeedsRegisteredMemoryCache = true)]
    [Both(true, NeedsRegisteredMemoryCache = true)]
    public async Task GetOrCreateAsync_ValueLargerThanSizeLimit_NotKept(Implementation implementation, bool mutable)
    {
        using var host = Host(implementation, sizeLimit: 8, maximumPayloadBytes: null, maximumKeyLength: null);

        var second = mutable
            ? await TwiceMutable(host)
            : await TwiceString(host);

        second.Should().Be("other", "a 12-byte payload does not fit a cache limited to 8");
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task GetOrCreateAsync_InvalidKeyWithDisableUnderlyingData_ReturnsDefaultWithoutTheFactory(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var options = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableUnderlyingData };

        var value = await host.Cache.GetOrCreateAsync<string>(" ", _ => throw new InvalidOperationException("must not run"), options);

        value.Should().BeNull();
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public async Task RemoveAsync_InvalidKey_DoesNotThrow(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);

        var act = async () => await host.Cache.RemoveAsync("  ");

        await act.Should().NotThrowAsync();
    }

    private static async Task<string> TwiceString(HybridHost host)
    {
        await host.Cache.GetOrCreateAsync("abc", _ => ValueTask.FromResult("simple value"));
        return await host.Cache.GetOrCreateAsync("abc", _ => ValueTask.FromResult("other"));
    }

    private static async Task<string> TwiceMutable(HybridHost host)
    {
        await host.Cache.GetOrCreateAsync("abc", _ => ValueTask.FromResult(new MutablePoco { Value = "simple value" }));
        return (await host.Cache.GetOrCreateAsync("abc", _ => ValueTask.FromResult(new MutablePoco { Value = "other" }))).Value;
    }

    private static HybridHost Host(Implementation implementation, long? sizeLimit, long? maximumPayloadBytes, int? maximumKeyLength) => HybridHost.Create(
        implementation,
        services => services.AddSingleton<IMemoryCache>(new MemoryCache(new MemoryCacheOptions { SizeLimit = sizeLimit })),
        o =>
        {
            if (maximumKeyLength is { } keys)
            {
                o.MaximumKeyLength = keys;
            }

            if (maximumPayloadBytes is { } bytes)
            {
                o.MaximumPayloadBytes = bytes;
            }
        });
}
