using FluentAssertions;
using Microsoft.AspNetCore.Http;
using StampedeGuard.AspNetCore.Caching;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

public sealed class StorageRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly StampedeResponseCachingOptions _options = new();

    private ResponseEvaluation Evaluate(int status, HeaderDictionary headers, bool authorization = false) =>
        StorageRules.Evaluate(status, headers, authorization, Now, Now, _options, policy: null);

    [Fact]
    public void Evaluate_HopByHopAndConnectionNamedFields_NeverStored()
    {
        var headers = new HeaderDictionary
        {
            ["Cache-Control"] = "max-age=60",
            ["Connection"] = "X-Session, close",
            ["X-Session"] = "abc",
            ["Keep-Alive"] = "timeout=5",
            ["Transfer-Encoding"] = "chunked",
            ["Proxy-Authenticate"] = "Basic",
            ["Upgrade"] = "h2c",
            ["Trailer"] = "X-Checksum",
            ["Age"] = "3",
            ["Cache-Status"] = "upstream; hit",
            ["Surrogate-Key"] = "a b",
            ["X-Kept"] = "yes",
        };

        var entry = Evaluate(200, headers).Entry!;
        entry.Headers.Keys.Should().BeEquivalentTo("Cache-Control", "X-Kept", "Date");
    }

    [Fact]
    public void Evaluate_QualifiedPrivate_StoresWithoutTheNamedFields()
    {
        var headers = new HeaderDictionary { ["Cache-Control"] = "max-age=60, private=\"X-User\"", ["X-User"] = "alice", ["X-Other"] = "o" };
        var entry = Evaluate(200, headers).Entry!;
        entry.Headers.Should().ContainKey("X-Other").And.NotContainKey("X-User");
    }

    [Theory]
    [InlineData(206, "status")]
    [InlineData(304, "status")]
    public void Evaluate_StatusNotStored(int status, string reason) =>
        Evaluate(status, new HeaderDictionary { ["Cache-Control"] = "max-age=60" }).Reason.Should().Be(reason);

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    [InlineData(599)]
    public void Evaluate_5xxWithoutFreshness_NotStoredSharedAndNoHitForPass(int status)
    {
        _options.NegativeCacheDuration = TimeSpan.FromMinutes(1);
        _options.DefaultFreshness = TimeSpan.FromMinutes(1);
        var evaluation = Evaluate(status, new HeaderDictionary { ["Last-Modified"] = "Fri, 01 Jan 2016 00:00:00 GMT" });
        evaluation.Storable.Should().BeFalse();
        evaluation.Reason.Should().Be("server-error");
        evaluation.Shareable.Should().BeTrue();
        evaluation.HitForPass.Should().BeFalse();
    }

    [Theory]
    [InlineData("no-store")]
    [InlineData("max-age=0")]
    public void Evaluate_5xxUncacheableByItsHeaders_SharedWithoutHitForPass(string cacheControl)
    {
        var evaluation = Evaluate(503, new HeaderDictionary { ["Cache-Control"] = cacheControl });
        evaluation.Storable.Should().BeFalse();
        evaluation.Shareable.Should().BeTrue();
        evaluation.HitForPass.Should().BeFalse();
    }

    [Fact]
    public void Evaluate_5xxWithMaxAge_StoredWithThatLifetime() =>
        Evaluate(503, new HeaderDictionary { ["Cache-Control"] = "max-age=60" }).Entry!.FreshnessLifetime.Should().Be(TimeSpan.FromSeconds(60));

    [Theory]
    [InlineData(200)] // cache-tests status-200-must-understand
    [InlineData(404)]
    public void Evaluate_MustUnderstandWithAnUnderstoodStatus_IgnoresNoStore(int status) =>
        Evaluate(status, new HeaderDictionary { ["Cache-Control"] = "max-age=3600, no-store, must-understand" }).Entry!.FreshnessLifetime.Should().Be(TimeSpan.FromHours(1));

    [Theory]
    [InlineData(599, "max-age=3600, no-store, must-understand", "no-store")] // cache-tests status-599-must-understand
    [InlineData(299, "max-age=3600, must-understand", "status")]
    public void Evaluate_MustUnderstandWithAnUnknownStatus_NotStored(int status, string cacheControl, string reason)
    {
        var evaluation = Evaluate(status, new HeaderDictionary { ["Cache-Control"] = cacheControl });
        evaluation.Storable.Should().BeFalse();
        evaluation.Reason.Should().Be(reason);
    }

    [Fact]
    public void Evaluate_HeuristicLimitedToTenPercentAndCap()
    {
        var headers = new HeaderDictionary { ["Last-Modified"] = "Fri, 01 Jan 2016 00:00:00 GMT" };
        Evaluate(200, headers).Entry!.FreshnessLifetime.Should().Be(TimeSpan.FromDays(1));
        Evaluate(500, headers).Storable.Should().BeFalse();
        Evaluate(201, headers).Storable.Should().BeFalse(); // 201 is not heuristically cacheable
    }

    [Fact]
    public void Evaluate_InitialAge_UsesAgeAndDate()
    {
        var headers = new HeaderDictionary { ["Cache-Control"] = "max-age=60", ["Date"] = "Wed, 31 Dec 2025 23:59:30 GMT", ["Age"] = "10" };
        Evaluate(200, headers).Entry!.InitialAge.Should().Be(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Evaluate_AuthorizationWithMustRevalidate_Stored()
    {
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60, must-revalidate" }, authorization: true).Storable.Should().BeTrue();
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "s-maxage=60" }, authorization: true).Storable.Should().BeTrue();
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60" }, authorization: true).HitForPass.Should().BeFalse();
    }

    [Fact]
    public void Evaluate_StaleWindowsFromOptions_UnlessMustRevalidate()
    {
        _options.StaleWhileRevalidate = TimeSpan.FromSeconds(30);
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60" }).Entry!.StaleWhileRevalidate.Should().Be(TimeSpan.FromSeconds(30));
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60, stale-while-revalidate=5" }).Entry!.StaleWhileRevalidate.Should().Be(TimeSpan.FromSeconds(5));
        Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60, must-revalidate" }).Entry!.StaleWhileRevalidate.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void CachedResponse_RoundTripsThroughSystemTextJson()
    {
        var entry = Evaluate(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60", ["ETag"] = "\"x\"" }).Entry!;
        entry.Body = [1, 2, 3];
        var factory = new StampedeGuard.Serialization.JsonStampedeSerializerFactory();
        factory.TryCreateSerializer<CachedResponse>(out var serializer).Should().BeTrue();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        serializer!.Serialize(entry, buffer);
        var back = serializer.Deserialize(new System.Buffers.ReadOnlySequence<byte>(buffer.WrittenMemory));
        back.Body.Should().Equal(1, 2, 3);
        back.ETag.Should().Be("\"x\"");
        back.FreshnessLifetime.Should().Be(TimeSpan.FromSeconds(60));
        back.ResponseTime.Should().Be(Now);
    }
}
