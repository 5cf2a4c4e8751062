using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed class StampedeKeysTests
{
    // By index: xunit's theory serialization would turn a lone surrogate into U+FFFD.
    private static readonly string?[] Invalid = [null, "", " ", "\t \r\n", "a\u0000c", "a\u001Fc", "bad\u0001tag:x", "lone\uD800", "\uDC00low", new string('k', 1025)];

    public static TheoryData<int> InvalidKeys => [.. Enumerable.Range(0, Invalid.Length)];

    public static TheoryData<string> ValidKeys => new() { "a", "a c", "user:42", "caf\u00e9", "emoji\uD83D\uDE00", "\u007f", new string('k', 1024) };

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public void IsValid_InvalidKey_ReturnsFalse(int index) => StampedeKeys.IsValid(Invalid[index], 1024).Should().BeFalse();

    [Theory]
    [MemberData(nameof(ValidKeys))]
    public void IsValid_ValidKey_ReturnsTrue(string key) => StampedeKeys.IsValid(key, 1024).Should().BeTrue();

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public async Task GetOrCreateAsync_InvalidKey_ThrowsArgumentExceptionNamingKey(int index)
    {
        var key = Invalid[index];
        using var h = new CacheHarness();

        var call = async () => await h.Cache.GetOrCreateAsync(key!, _ => ValueTask.FromResult(1));

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public async Task SetAsync_InvalidKey_ThrowsArgumentExceptionNamingKey(int index)
    {
        var key = Invalid[index];
        using var h = new CacheHarness();

        var call = async () => await h.Cache.SetAsync(key!, 1);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("key");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("*")]
    [InlineData("a\u0000")]
    public void Tags_InvalidTag_ThrowsArgumentExceptionNamingTags(string? tag)
    {
        var options = new StampedeCacheEntryOptions();

        var set = () => options.Tags = ["ok", tag!];

        set.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("Tags");
    }

    [Fact]
    public void Tags_ListChangedAfterSet_OptionsKeepTheirCopy()
    {
        var tags = new List<string> { "a" };
        var options = new StampedeCacheEntryOptions { Tags = tags };

        tags.Add(null!);

        options.Tags.Should().Equal("a");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" ")]
    public async Task RemoveByTagAsync_InvalidTag_ThrowsArgumentExceptionNamingTag(string? tag)
    {
        using var h = new CacheHarness();

        var call = async () => await h.Cache.RemoveByTagAsync(tag!);

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("tag");
    }

    [Fact]
    public async Task RemoveByTagAsync_Star_ClearsEveryEntry()
    {
        using var h = new CacheHarness();
        await h.Cache.SetAsync("plain", 1);
        await h.Cache.SetAsync("tagged", 1, new StampedeCacheEntryOptions { Tags = ["t"] });
        h.Clock.Advance(TimeSpan.FromMilliseconds(1));

        await h.Cache.RemoveByTagAsync(StampedeKeys.AllTag);

        (await h.Cache.TryGetAsync<int>("plain")).HasValue.Should().BeFalse();
        (await h.Cache.TryGetAsync<int>("tagged")).HasValue.Should().BeFalse();
    }
}
