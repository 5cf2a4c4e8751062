using FluentAssertions;
using Microsoft.AspNetCore.Http;
using StampedeGuard.AspNetCore.Caching;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

public sealed class CacheKeyBuilderTests
{
    private static string Variant(params (string Name, string Value)[] headers)
    {
        var request = new HeaderDictionary();
        foreach (var (name, value) in headers)
        {
            request[name] = value;
        }

        return CacheKeyBuilder.VariantKey("GET|http|example|/p|", new CachedResponse { VaryId = "1", VaryHeaders = ["a", "b"] }, request);
    }

    [Fact]
    public void VariantKey_ValueContainingTheSeparator_CannotForgeAnotherCombination()
    {
        var forged = Variant(("a", "1"), ("b", "2|b=3"));
        var other = Variant(("a", "1|b=2"), ("b", "3"));

        forged.Should().NotBe(other);
    }

    [Fact]
    public void VariantKey_AbsentEmptyAndPercent_AllDiffer()
    {
        new[] { Variant(("a", "1")), Variant(("a", "1"), ("b", "")), Variant(("a", "1"), ("b", "%")) }
            .Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void VariantKey_ControlCharacterInAValue_IsAValidEngineKey()
    {
        var key = Variant(("a", "x\ty"), ("b", "z"));

        StampedeKeys.IsValid(key, CacheKeyBuilder.MaxKeyLength).Should().BeTrue();
        key.Should().NotBe(Variant(("a", "x y"), ("b", "z")));
    }

    [Fact]
    public void NormalizedValue_AcceptLanguageInAnotherCase_SameVariant()
    {
        // cache-tests vary-normalise-lang-case: language ranges are case-insensitive (RFC 4647 2.1).
        var lower = new HeaderDictionary { ["Accept-Language"] = "en, de" };
        var mixed = new HeaderDictionary { ["Accept-Language"] = "eN, De" };

        CacheKeyBuilder.NormalizedValue(mixed, "accept-language").Should().Be(CacheKeyBuilder.NormalizedValue(lower, "accept-language"));
    }

    [Fact]
    public void NormalizedValue_OtherFieldInAnotherCase_DifferentVariant()
    {
        var lower = new HeaderDictionary { ["X-Tenant"] = "acme" };
        var upper = new HeaderDictionary { ["X-Tenant"] = "ACME" };

        CacheKeyBuilder.NormalizedValue(upper, "x-tenant").Should().NotBe(CacheKeyBuilder.NormalizedValue(lower, "x-tenant"));
    }
}
