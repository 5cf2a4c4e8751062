using FluentAssertions;
using StampedeGuard.AspNetCore.Caching;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

public sealed class CacheControlDirectivesTests
{
    [Fact]
    public void Parse_CommonDirectives_AllRecognisedCaseInsensitively()
    {
        var cc = CacheControlDirectives.Parse("Public, MAX-AGE=60, s-maxage=30, stale-while-revalidate=5, stale-if-error=7, must-revalidate, proxy-revalidate, no-cache, no-store, private");
        cc.Public.Should().BeTrue();
        cc.MaxAge.Should().Be(TimeSpan.FromSeconds(60));
        cc.SharedMaxAge.Should().Be(TimeSpan.FromSeconds(30));
        cc.StaleWhileRevalidate.Should().Be(TimeSpan.FromSeconds(5));
        cc.StaleIfError.Should().Be(TimeSpan.FromSeconds(7));
        cc.MustRevalidate.Should().BeTrue();
        cc.ProxyRevalidate.Should().BeTrue();
        cc.NoCache.Should().BeTrue();
        cc.NoStore.Should().BeTrue();
        cc.Private.Should().BeTrue();
    }

    [Fact]
    public void Parse_QuotedFieldNames_QualifiedPrivateAndNoCache()
    {
        var cc = CacheControlDirectives.Parse("private=\"Set-Cookie, X-User\", no-cache=\"X-Debug\", max-age=10");
        cc.Private.Should().BeFalse();
        cc.PrivateFields.Should().Equal("Set-Cookie", "X-User");
        cc.NoCache.Should().BeFalse();
        cc.NoCacheFields.Should().Equal("X-Debug");
        cc.MaxAge.Should().Be(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("max-age=abc")]
    [InlineData("max-age=-1")]
    [InlineData("max-age=1.5")]
    [InlineData("max-age=")]
    [InlineData("max-age=10, max-age=20")]
    public void Parse_BadFreshness_MarkedInvalid(string value) =>
        CacheControlDirectives.Parse(value).InvalidFreshness.Should().BeTrue();

    [Fact]
    public void Parse_Overflow_ClampedTo2Pow31()
    {
        CacheControlDirectives.Parse("max-age=999999999999999999999999999").MaxAge.Should().Be(TimeSpan.FromSeconds(2147483648));
    }

    [Theory]
    [InlineData("")]
    [InlineData(",,,")]
    [InlineData("=")]
    [InlineData("\"unterminated")]
    [InlineData("max-age=\"60")]
    [InlineData("no-store;a=b, ;;;")]
    public void Parse_Garbage_DoesNotThrow(string value)
    {
        var act = () => CacheControlDirectives.Parse(value);
        act.Should().NotThrow();
    }

    [Fact]
    public void Parse_TargetedFieldBooleans_Honoured()
    {
        var cc = CacheControlDirectives.Parse("max-age=60, no-store=?0, must-revalidate");
        cc.NoStore.Should().BeTrue(); // no-store has no value form: any presence means no-store
        CacheControlDirectives.Parse("private=?0").Private.Should().BeFalse();
    }

    [Fact]
    public void Parse_StaleWindowMalformed_IgnoredNotStale()
    {
        var cc = CacheControlDirectives.Parse("max-age=60, stale-while-revalidate=x");
        cc.InvalidFreshness.Should().BeFalse();
        cc.StaleWhileRevalidate.Should().BeNull();
    }
}
