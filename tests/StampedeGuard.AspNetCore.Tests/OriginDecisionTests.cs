using FluentAssertions;
using Microsoft.AspNetCore.Http;
using StampedeGuard.AspNetCore.Caching;
using StampedeGuard.AspNetCore.Internal;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>
/// The decision an origin execution takes when the origin's headers arrive, over (origin head, miss plan), without a
/// server: merge a 304, serve stale-if-error, or stream (stored or not, shared or detached, hit-for-pass or not, a
/// failure shared or retried once).
/// </summary>
public sealed class OriginDecisionTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly StampedeResponseCachingOptions _options = new();

    /// <summary>A stored 200 that went stale <paramref name="staleFor"/> ago, with the validators given and a stale-if-error window.</summary>
    private static CachedResponse Stale(TimeSpan staleFor, string? etag = "\"v1\"", string? lastModified = null, TimeSpan staleIfError = default, bool noStaleServing = false)
    {
        var response = new CachedResponse
        {
            Kind = CachedResponseKind.Response,
            StatusCode = 200,
            ResponseTime = Now - TimeSpan.FromSeconds(60) - staleFor,
            FreshnessLifetime = TimeSpan.FromSeconds(60),
            StaleIfError = staleIfError,
            NoStaleServing = noStaleServing,
            Body = "old"u8.ToArray(),
        };
        response.Headers["Cache-Control"] = ["max-age=60"];
        if (etag is not null)
        {
            response.Headers["ETag"] = [etag];
        }

        if (lastModified is not null)
        {
            response.Headers["Last-Modified"] = [lastModified];
        }

        return response;
    }

    private static MissPlan Plan(CachedResponse? stale = null, bool authorization = false) => new()
    {
        UrlKey = "GET|http://example/a",
        UrlTag = "url:a",
        PrimaryKey = "k:a",
        FlightKey = "k:a",
        Stale = stale,
        RequestHadAuthorization = authorization,
        Fwd = stale is null ? Forward.UriMiss : Forward.Stale,
    };

    private OriginDecision Decide(int status, HeaderDictionary headers, MissPlan plan, bool isRetry = false) =>
        OriginDecision.Decide(status, headers, plan, isRetry, Now, Now, _options);

    [Fact]
    public void NotModified_ToARevalidation_MergesIntoTheStaleResponseAndStoresIt()
    {
        var decision = Decide(304, new HeaderDictionary { ["Cache-Control"] = "max-age=120", ["ETag"] = "\"v1\"" }, Plan(Stale(TimeSpan.FromSeconds(5))));

        decision.Action.Should().Be(OriginAction.MergeNotModified);
        decision.Stores.Should().BeTrue();
        decision.Shared.Should().BeTrue();
        decision.Answer!.StatusCode.Should().Be(200);
        decision.Answer.Body.Should().Equal("old"u8.ToArray());
        decision.Answer.FreshnessLifetime.Should().Be(TimeSpan.FromSeconds(120), "the 304's fields replace the stored ones (RFC 9111 4.3.4)");
    }

    [Fact]
    public void NotModified_WithoutValidatorsSent_IsStreamedAsItIsAndNeverStored()
    {
        // No stale entry with validators: this cache sent no conditional, so the 304 answers the client's own.
        var decision = Decide(304, new HeaderDictionary { ["Cache-Control"] = "max-age=120" }, Plan(Stale(TimeSpan.FromSeconds(5), etag: null)));

        decision.Action.Should().Be(OriginAction.Stream);
        decision.Stores.Should().BeFalse();
        decision.Shared.Should().BeFalse();
        decision.SetsHitForPass.Should().BeFalse();
    }

    [Fact]
    public void ServerError_InsideTheStaleIfErrorWindow_ServesTheStaleResponse()
    {
        var stale = Stale(TimeSpan.FromSeconds(10), staleIfError: TimeSpan.FromSeconds(30));
        var decision = Decide(503, [], Plan(stale));

        decision.Action.Should().Be(OriginAction.ServeStaleIfError);
        decision.Answer.Should().BeSameAs(stale);
        decision.Stores.Should().BeFalse("a stale response served on error is not stored again");
    }

    [Theory]
    [InlineData(40, false)] // past its stale-if-error window
    [InlineData(10, true)] // inside it, but must-revalidate forbids serving it stale
    public void ServerError_WhenTheStaleResponseMayNotAnswer_SharesTheFailure(int staleSeconds, bool noStaleServing)
    {
        var stale = Stale(TimeSpan.FromSeconds(staleSeconds), staleIfError: TimeSpan.FromSeconds(30), noStaleServing: noStaleServing);
        var decision = Decide(503, [], Plan(stale));

        decision.Action.Should().Be(OriginAction.Stream);
        decision.Shared.Should().BeTrue("the waiters share the failure instead of multiplying it");
        decision.RetryForWaiters.Should().BeFalse();
        decision.SetsHitForPass.Should().BeFalse("a 5xx is an outage, not a property of the URL (Squid bug 1918)");
        decision.Stores.Should().BeFalse();
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)] // the retry's own failure is shared: one retry, never a loop
    public void ServerError_WithRetryOnce_RetriesOnceForTheWaiters(bool isRetry, bool expected)
    {
        _options.FailureMode = OriginFailureMode.RetryOnce;
        var decision = Decide(502, [], Plan(), isRetry);

        decision.Action.Should().Be(OriginAction.Stream);
        decision.RetryForWaiters.Should().Be(expected);
    }

    [Fact]
    public void Cacheable_IsStreamedSharedAndStored()
    {
        var decision = Decide(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60", ["Surrogate-Key"] = "a b" }, Plan());

        decision.Action.Should().Be(OriginAction.Stream);
        decision.Stores.Should().BeTrue();
        decision.Shared.Should().BeTrue();
        decision.SetsHitForPass.Should().BeFalse();
        decision.Evaluation!.Entry!.FreshnessLifetime.Should().Be(TimeSpan.FromSeconds(60));
    }

    [Theory]
    [InlineData("private", true)]
    [InlineData("no-store", true)]
    public void Uncacheable_DetachesTheWaitersWithHitForPass(string cacheControl, bool hitForPass)
    {
        var decision = Decide(200, new HeaderDictionary { ["Cache-Control"] = cacheControl }, Plan());

        decision.Action.Should().Be(OriginAction.Stream);
        decision.Stores.Should().BeFalse();
        decision.SetsHitForPass.Should().Be(hitForPass);
        if (cacheControl == "private")
        {
            decision.Shared.Should().BeFalse("a private response is never given to another client");
        }
    }

    [Fact]
    public void AuthorizedRequest_WithoutPublic_IsNeitherSharedNorMarked()
    {
        var decision = Decide(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60" }, Plan(authorization: true));

        decision.Stores.Should().BeFalse();
        decision.Shared.Should().BeFalse();
        decision.SetsHitForPass.Should().BeFalse("an anonymous request for the URL may get a shareable response (RFC 9111 3.5)");
    }
}
