using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace StampedeGuard.Accelerator;

/// <summary>
/// Applied to every YARP route: removes the fields the <c>Connection</c> header names (RFC 9110 7.6.1; YARP already drops
/// the fixed hop-by-hop set) in both directions, and adds <c>Via</c> to requests and responses (RFC 9110 7.6.3).
/// Upgrade requests keep <c>Upgrade</c>, which YARP needs for WebSockets.
/// </summary>
internal sealed class HopByHopTransformProvider(IOptions<AcceleratorOptions> options) : ITransformProvider
{
    private readonly string _via = options.Value.Via is { Length: > 0 } name ? "1.1 " + name : string.Empty;

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        context.AddRequestTransform(request =>
        {
            foreach (var name in Nominated(request.HttpContext.Request.Headers.Connection))
            {
                if (!name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase))
                {
                    RequestTransform.RemoveHeader(request, name);
                }
            }

            if (_via.Length > 0)
            {
                request.ProxyRequest.Headers.TryAddWithoutValidation(HeaderNames.Via, _via);
            }

            return ValueTask.CompletedTask;
        });
        context.AddResponseTransform(response =>
        {
            if (response.ProxyResponse is { } origin && origin.Headers.TryGetValues(HeaderNames.Connection, out var connection))
            {
                var headers = response.HttpContext.Response.Headers;
                foreach (var name in Nominated(new StringValues([.. connection])))
                {
                    if (!name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase))
                    {
                        headers.Remove(name);
                    }
                }
            }

            if (_via.Length > 0 && response.ProxyResponse is not null)
            {
                response.HttpContext.Response.Headers.Append(HeaderNames.Via, _via);
            }

            return ValueTask.CompletedTask;
        });
    }

    private static IEnumerable<string> Nominated(StringValues connection)
    {
        foreach (var value in connection)
        {
            foreach (var token in (value ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                yield return token;
            }
        }
    }
}
