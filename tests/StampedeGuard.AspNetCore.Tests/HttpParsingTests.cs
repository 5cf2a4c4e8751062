using FluentAssertions;
using Microsoft.AspNetCore.Http;
using StampedeGuard.AspNetCore.Caching;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>Strict parsing of what RFC 9110, 9111 and 9213 define: dates, Age, targeted fields, entity-tags, 1xx.</summary>
public sealed class HttpParsingTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Aug18 = new(2050, 8, 18, 8, 49, 37, TimeSpan.Zero);
    private readonly StampedeResponseCachingOptions _options = new();

    private ResponseEvaluation Evaluate(int status, HeaderDictionary headers) =>
        StorageRules.Evaluate(status, headers, requestHadAuthorization: false, Now, Now, _options, policy: null);

    [Theory]
    [InlineData("Thu, 18 Aug 2050 08:49:37 GMT")] // IMF-fixdate
    [InlineData("Thursday, 18-Aug-50 08:49:37 GMT")] // RFC 850: a two-digit year within 50 years ahead is this century
    [InlineData("Thu Aug 18 08:49:37 2050")] // asctime
    [InlineData("thu, 18 aug 2050 08:49:37 gmt")] // names and GMT without regard to case
    public void HttpDate_ThreeFormats_Parsed(string text)
    {
        HttpDate.TryParse(text, Now, out var date).Should().BeTrue();
        date.Should().Be(Aug18);
    }

    [Fact]
    public void HttpDate_AsctimeOneDigitDay_ParsedWithItsSpace()
    {
        HttpDate.TryParse("Sun Nov  6 08:49:37 1994", Now, out var date).Should().BeTrue();
        date.Should().Be(new DateTimeOffset(1994, 11, 6, 8, 49, 37, TimeSpan.Zero));
    }

    [Fact]
    public void HttpDate_Rfc850MoreThan50YearsAhead_IsThePreviousCentury()
    {
        HttpDate.TryParse("Sunday, 06-Nov-94 08:49:37 GMT", Now, out var date).Should().BeTrue();
        date.Year.Should().Be(1994);
    }

    [Theory]
    [InlineData("Thu, 18  Aug 2050 08:49:37 GMT")] // two spaces
    [InlineData("Thu, 18-Aug-2050 08:49:37 GMT")] // dashes in an IMF-fixdate
    [InlineData("Thu, 18 Aug 2050 8:49:37 GMT")] // one-digit hour
    [InlineData("Thu, 18 Aug 2050 08:49:37 UTC")]
    [InlineData("Thu, 31 Feb 2050 08:49:37 GMT")]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("2050-08-18T08:49:37Z")]
    public void HttpDate_Malformed_Rejected(string text) =>
        HttpDate.TryParse(text, Now, out _).Should().BeFalse();

    [Theory]
    [InlineData("Thu, 18  Aug 2050 08:49:37 GMT")]
    [InlineData("Thu, 18-Aug-2050 08:49:37 GMT")]
    [InlineData("Thu, 18 Aug 2050 8:49:37 GMT")]
    public void Evaluate_InvalidExpires_AlreadyExpired(string expires) =>
        Evaluate(200, new HeaderDictionary { ["Expires"] = expires, ["ETag"] = "\"v\"" }).Entry!.FreshnessLifetime.Should().Be(TimeSpan.Zero);

    [Fact]
    public void Evaluate_ValidRfc850Expires_FreshUntilThen() =>
        Evaluate(200, new HeaderDictionary { ["Expires"] = "Thursday, 18-Aug-50 08:49:37 GMT" }).Entry!.FreshnessLifetime.Should().Be(Aug18 - Now);

    [Fact]
    public void Evaluate_AgeList_FirstMemberUsed() =>
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=10000", ["Age"] = "7200, 0" }).Entry!.InitialAge.Should().Be(TimeSpan.FromSeconds(7200));

    [Fact]
    public void Evaluate_AgeTwice_FirstLineUsed() =>
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=10000", ["Age"] = new(["7200", "0"]) }).Entry!.InitialAge.Should().Be(TimeSpan.FromSeconds(7200));

    [Theory]
    [InlineData("abc")] // cache-tests age-parse-nonnumeric
    [InlineData("-7200")] // age-parse-negative
    [InlineData("7200.0")] // age-parse-float
    [InlineData("old, 0")] // an invalid first member: the field is ignored, not the next member used
    public void Evaluate_InvalidAge_IgnoredAsIfAbsent(string age)
    {
        // RFC 9111 5.1: "If the field value ... is invalid (e.g., it contains something other than a non-negative
        // integer), a cache SHOULD ignore the field." (It used to make the response stale.)
        var evaluation = Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=10000", ["Age"] = age });
        evaluation.Storable.Should().BeTrue();
        evaluation.Entry!.InitialAge.Should().Be(TimeSpan.Zero);
        evaluation.Entry.FreshnessLifetime.Should().Be(TimeSpan.FromSeconds(10000));
    }

    [Fact]
    public void Evaluate_AgeWithParameter_TheNumberCounts() =>
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=10000", ["Age"] = "7200;foo=bar" }).Entry!.InitialAge.Should().Be(TimeSpan.FromSeconds(7200));

    [Theory]
    [InlineData("&&&&&")]
    [InlineData("max-age=\"10000\"")]
    [InlineData("max-age=10000,")]
    [InlineData("MAX-AGE=10000")]
    public void Evaluate_CdnCacheControlUnparseableOrWrongType_DoesNotOverrideNoStore(string cdn)
    {
        var evaluation = Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "no-store", ["CDN-Cache-Control"] = cdn });
        evaluation.Storable.Should().BeFalse();
    }

    [Theory]
    [InlineData("max-age=100")]
    [InlineData("max-age=100;x=1, no-cache=?0, public")]
    [InlineData("max-age=100, private=?0")]
    public void Evaluate_ValidCdnCacheControl_OverridesCacheControl(string cdn) =>
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "no-store", ["CDN-Cache-Control"] = cdn }).Entry!.FreshnessLifetime.Should().Be(TimeSpan.FromSeconds(100));

    [Fact]
    public void Evaluate_CdnCacheControlPrivateInnerList_FieldsNotStored()
    {
        var entry = Evaluate(200, new HeaderDictionary { ["CDN-Cache-Control"] = "max-age=100, private=(\"X-User\")", ["X-User"] = "ann", ["X-Other"] = "o" }).Entry!;
        entry.Headers.Should().ContainKey("X-Other").And.NotContainKey("X-User");
    }

    [Fact]
    public void StructuredDictionary_UnparseableField_Null()
    {
        StructuredDictionary.TryParse(["a=1", "&"]).Should().BeNull();
        StructuredDictionary.TryParse(["a=\"unterminated"]).Should().BeNull();
        StructuredDictionary.TryParse(["a=1, b=?1;p=2, c=(\"x\" \"y\"), d=1.5, e=tok, f=:AQID:"])!.Keys.Should().Equal("a", "b", "c", "d", "e", "f");
    }

    [Theory]
    [InlineData(100)]
    [InlineData(102)]
    [InlineData(103)]
    public void Evaluate_Interim1xx_NeverStoredNorMarked(int status)
    {
        var evaluation = Evaluate(status, new HeaderDictionary { ["Cache-Control"] = "max-age=60" });
        evaluation.Storable.Should().BeFalse();
        evaluation.HitForPass.Should().BeFalse();
    }

    [Theory]
    [InlineData("\"a,b\", \"c\"", "\"a,b\"", true)]
    [InlineData("\"a,b\", \"c\"", "\"c\"", true)]
    [InlineData("\"a,b\", \"c\"", "\"a\"", false)]
    [InlineData("\"a,b\", \"c\"", "\"b\"", false)]
    [InlineData("W/\"x\"", "\"x\"", true)]
    [InlineData("\"x\"", "W/\"x\"", true)]
    [InlineData("*", "\"anything\"", true)]
    [InlineData("\"caf\u00e9\"", "\"caf\u00e9\"", true)]
    [InlineData("not-a-tag", "\"x\"", false)]
    public void IfNoneMatch_ParsedAsEntityTags(string ifNoneMatch, string etag, bool matches) =>
        HeaderRules.IfNoneMatchMatches(ifNoneMatch, etag).Should().Be(matches);
}
