using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>The endpoint and route values of a request, copied for a background revalidation that outlives it.</summary>
internal sealed class BackgroundEndpointFeature : IEndpointFeature, IRouteValuesFeature
{
    public Endpoint? Endpoint { get; set; }

    public RouteValueDictionary RouteValues { get; set; } = [];
}
