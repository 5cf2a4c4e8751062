using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// Builds the <see cref="HttpContext"/> an origin execution runs on. It is never the client's: the request is a copy
/// (so the cache can add validators and remove the client's conditionals), the response features are an
/// <see cref="OriginResponse"/>, and <c>RequestAborted</c> is the flight's token.
/// </summary>
internal static class OriginContextFactory
{
    /// <summary>For a client's miss: every feature not replaced falls through to the client's (services, user, endpoint, connection).</summary>
    public static HttpContext CreateLayered(HttpContext client, OriginResponse response, ResponseFlight flight)
    {
        var features = new FeatureCollection(client.Features);

        // DefaultHttpContext creates its services feature lazily from a scope factory only the server's context has:
        // without this line a fresh context over the client's features has no RequestServices (and Results.* throw).
        features.Set<IServiceProvidersFeature>(new ServiceProvidersFeature { RequestServices = client.RequestServices });
        features.Set<IHttpAuthenticationFeature>(new HttpAuthenticationFeature { User = client.User });
        features.Set<IItemsFeature>(new ItemsFeature { Items = client.Items });
        features.Set<IHttpRequestFeature>(CopyRequest(client, client.Request.Body));
        features.Set<IHttpResponseFeature>(response);
        features.Set<IHttpResponseBodyFeature>(response);
        features.Set<IHttpRequestLifetimeFeature>(new FlightLifetimeFeature(flight));
        return new DefaultHttpContext(features);
    }

    /// <summary>For a background revalidation that outlives the client's request: everything it needs is copied now.</summary>
    public static (HttpContext Context, AsyncServiceScope Scope) CreateDetached(HttpContext client, OriginResponse response, ResponseFlight flight, IServiceScopeFactory scopes)
    {
        var scope = scopes.CreateAsyncScope();
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(CopyRequest(client, Stream.Null));
        features.Set<IHttpResponseFeature>(response);
        features.Set<IHttpResponseBodyFeature>(response);
        features.Set<IHttpRequestLifetimeFeature>(new FlightLifetimeFeature(flight));
        features.Set<IServiceProvidersFeature>(new ServiceProvidersFeature { RequestServices = scope.ServiceProvider });
        features.Set<IItemsFeature>(new ItemsFeature());
        features.Set<IHttpAuthenticationFeature>(new HttpAuthenticationFeature { User = client.User });
        var endpoint = new BackgroundEndpointFeature
        {
            Endpoint = client.GetEndpoint(),
            RouteValues = new RouteValueDictionary(client.Request.RouteValues),
        };
        features.Set<IEndpointFeature>(endpoint);
        features.Set<IRouteValuesFeature>(endpoint);
        var connection = client.Connection;
        features.Set<IHttpConnectionFeature>(new HttpConnectionFeature
        {
            ConnectionId = connection.Id,
            LocalIpAddress = connection.LocalIpAddress,
            LocalPort = connection.LocalPort,
            RemoteIpAddress = connection.RemoteIpAddress,
            RemotePort = connection.RemotePort,
        });
        return (new DefaultHttpContext(features), scope);
    }

    private static HttpRequestFeature CopyRequest(HttpContext client, Stream body)
    {
        var request = client.Request;
        var source = client.Features.Get<IHttpRequestFeature>();
        var headers = new HeaderDictionary();
        foreach (var (name, values) in request.Headers)
        {
            headers[name] = values;
        }

        return new HttpRequestFeature
        {
            Protocol = request.Protocol,
            Scheme = request.Scheme,
            Method = request.Method,
            PathBase = request.PathBase,
            Path = request.Path,
            QueryString = request.QueryString.Value ?? string.Empty,
            RawTarget = source?.RawTarget ?? string.Empty,
            Headers = headers,
            Body = body,
        };
    }

    private sealed class FlightLifetimeFeature(ResponseFlight flight) : IHttpRequestLifetimeFeature
    {
        public CancellationToken RequestAborted
        {
            get => flight.Token;
            set => throw new NotSupportedException("The origin execution's token belongs to its flight.");
        }

        public void Abort() => flight.AbortFromOrigin();
    }
}
