using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    public static TheoryData<string?> BadKeys => new() { null, string.Empty, new string('k', 1025) };

    private static ValueTask<int> One(CancellationToken _) => ValueTask.FromResult(1);

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task GetOrCreateAsync_BadKey_ThrowsArgumentExceptionNamingKey(string? key)
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.GetOrCreateAsync(key!, One);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task GetOrCreateAsyncWithState_BadKey_ThrowsArgumentExceptionNamingKey(string? key)
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.GetOrCreateAsync<int, int>(key!, 1, static (s, _, _) => ValueTask.FromResult(s));

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Fact]
    public async Task GetOrCreateAsync_KeyAtMaximumLength_Accepted()
    {
        using var h = new CacheHarness();

        var value = await h.Cache.GetOrCreateAsync(new string('k', 1024), One);

        value.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_KeyOverConfiguredMaximum_ThrowsArgumentExceptionNamingKey()
    {
        using var h = new CacheHarness(configure: o => o.MaximumKeyLength = 8);

        var call = async () => await h.Cache.GetOrCreateAsync("123456789", One);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Fact]
    public async Task GetOrCreateAsync_NullFactory_ThrowsArgumentNullExceptionNamingFactory()
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.GetOrCreateAsync<int>("k", null!);

        (await call.Should().ThrowAsync<ArgumentNullException>()).Which.ParamName.Should().Be("factory");
    }

    [Fact]
    public async Task GetOrCreateAsyncWithState_NullFactory_ThrowsArgumentNullExceptionNamingFactory()
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.GetOrCreateAsync<int, int>("k", 1, null!);

        (await call.Should().ThrowAsync<ArgumentNullException>()).Which.ParamName.Should().Be("factory");
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task TryGetAsync_BadKey_ThrowsArgumentExceptionNamingKey(string? key)
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.TryGetAsync<int>(key!);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task SetAsync_BadKey_ThrowsArgumentExceptionNamingKey(string? key)
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.SetAsync(key!, 1);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task RemoveAsync_BadKey_ThrowsArgumentExceptionNamingKey(string? key)
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.RemoveAsync(key!);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task ExpireAsync_BadKey_ThrowsArgumentExceptionNamingKey(string? key)
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.ExpireAsync(key!);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task RemoveByTagAsync_NullOrEmptyTag_ThrowsArgumentExceptionNamingTag(string? tag)
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.RemoveByTagAsync(tag!);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("tag");
    }
}
