using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using StampedeGuard.AspNetCore.Caching;
using StampedeGuard.AspNetCore.Internal;

namespace StampedeGuard.AspNetCore.Forwarding;

/// <summary>
/// Forwards a request to the origin with one pooled <see cref="SocketsHttpHandler"/>, streaming both ways: the request
/// body as the client sends it, the response body as the origin sends it (each read is written and flushed at once).
/// Hop-by-hop fields and the fields <c>Connection</c> names are never forwarded; <c>Via</c> and <c>X-Forwarded-*</c> are
/// set. An unreachable origin is a 502, a slow one a 504; both are ordinary responses, so the cache's failure rules apply.
/// </summary>
internal sealed class HttpForwarder : IDisposable
{
    private readonly HttpMessageInvoker _client;
    private readonly StampedeForwarderOptions _options;
    private readonly Uri _origin;
    private readonly ILogger _logger;
    private readonly string _via;

    public HttpForwarder(IOptions<StampedeForwarderOptions> options, ILoggerFactory loggerFactory)
    {
        _options = options.Value;
        _origin = _options.Origin ?? throw new InvalidOperationException("StampedeForwarderOptions.Origin must be set.");
        _logger = loggerFactory.CreateLogger<HttpForwarder>();
        _via = "1.1 " + _options.ViaName;
        _client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = _options.ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            MaxConnectionsPerServer = int.MaxValue,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
        });
    }

    public async Task ForwardAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        using var request = CreateRequest(context);
        HttpResponseMessage response;
        using var headersTimeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        if (_options.ResponseHeadersTimeout != Timeout.InfiniteTimeSpan)
        {
            headersTimeout.CancelAfter(_options.ResponseHeadersTimeout);
        }

        try
        {
            response = await _client.SendAsync(request, headersTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!aborted.IsCancellationRequested)
        {
            Log.ForwardFailed(_logger, context.Request.Method, context.Request.Path.Value ?? "/", ex);
            if (!context.Response.HasStarted)
            {
                context.Response.StatusCode = ex is OperationCanceledException ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway;
                context.Response.Headers.CacheControl = "no-store";
            }

            return;
        }

        using (response)
        {
            CopyResponseHeaders(context, response);
            if (HttpMethods.IsHead(context.Request.Method) || response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified)
            {
                await context.Response.CompleteAsync().ConfigureAwait(false);
                return;
            }

            var source = await response.Content.ReadAsStreamAsync(aborted).ConfigureAwait(false);
            await using (source.ConfigureAwait(false))
            {
                var target = context.Response.Body;
                var buffer = new byte[16 * 1024];
                while (true)
                {
                    int read;
                    try
                    {
                        read = await source.ReadAsync(buffer, aborted).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is IOException or HttpRequestException && !aborted.IsCancellationRequested)
                    {
                        // The origin broke the body off: the client must see a broken response, not a short one.
                        Log.ForwardFailed(_logger, context.Request.Method, context.Request.Path.Value ?? "/", ex);
                        throw;
                    }

                    if (read == 0)
                    {
                        break;
                    }

                    await target.WriteAsync(buffer.AsMemory(0, read), aborted).ConfigureAwait(false);
                    await target.FlushAsync(aborted).ConfigureAwait(false);
                }
            }
        }
    }

    public void Dispose() => _client.Dispose();

    private HttpRequestMessage CreateRequest(HttpContext context)
    {
        var incoming = context.Request;
        var uri = new Uri(_origin, (_origin.AbsolutePath.TrimEnd('/') + incoming.PathBase.ToUriComponent() + incoming.Path.ToUriComponent()).TrimStart('/') + incoming.QueryString.ToUriComponent());
        var request = new HttpRequestMessage(new HttpMethod(incoming.Method), uri) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower };
        var hasBody = incoming.ContentLength > 0 || incoming.Headers.ContainsKey(HeaderNames.TransferEncoding);
        if (hasBody)
        {
            request.Content = new StreamContent(incoming.Body);
        }

        var connectionNamed = HeaderRules.ConnectionNamed(incoming.Headers.Connection);
        foreach (var (name, values) in incoming.Headers)
        {
            if (HeaderRules.IsHopByHop(name, connectionNamed) || name.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase)
                || (_options.AddForwardedHeaders && (name.Equals("X-Forwarded-Proto", StringComparison.OrdinalIgnoreCase) || name.Equals("X-Forwarded-Host", StringComparison.OrdinalIgnoreCase))))
            {
                continue;
            }

            var array = HeaderRules.ToArray(values);
            if (!request.Headers.TryAddWithoutValidation(name, array) && request.Content is not null)
            {
                request.Content.Headers.TryAddWithoutValidation(name, array);
            }
        }

        if (_options.PreserveHost && incoming.Host.HasValue)
        {
            request.Headers.Host = incoming.Host.Value;
        }

        request.Headers.TryAddWithoutValidation(HeaderNames.Via, (incoming.Protocol.StartsWith("HTTP/", StringComparison.Ordinal) ? incoming.Protocol[5..] : "1.1") + " " + _options.ViaName);
        if (_options.AddForwardedHeaders)
        {
            var remote = context.Features.Get<IHttpConnectionFeature>()?.RemoteIpAddress?.ToString();
            if (remote is not null)
            {
                var previous = incoming.Headers["X-Forwarded-For"].ToString();
                request.Headers.Remove("X-Forwarded-For");
                request.Headers.TryAddWithoutValidation("X-Forwarded-For", previous.Length > 0 ? previous + ", " + remote : remote);
            }

            request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", incoming.Scheme);
            request.Headers.TryAddWithoutValidation("X-Forwarded-Host", incoming.Host.Value);
        }

        return request;
    }

    private void CopyResponseHeaders(HttpContext context, HttpResponseMessage response)
    {
        var target = context.Response;
        target.StatusCode = (int)response.StatusCode;
        var connectionNamed = response.Headers.TryGetValues(HeaderNames.Connection, out var connection) ? HeaderRules.ConnectionNamed(connection.ToArray()) : null;
        Copy(response.Headers, target.Headers, connectionNamed);
        Copy(response.Content.Headers, target.Headers, connectionNamed);
        var via = target.Headers.Via;
        target.Headers.Via = via.Count == 0 ? _via : via + ", " + _via;
    }

    private static void Copy(HttpHeaders source, IHeaderDictionary target, HashSet<string>? connectionNamed)
    {
        foreach (var (name, values) in source.NonValidated)
        {
            if (HeaderRules.IsHopByHop(name, connectionNamed))
            {
                continue;
            }

            var array = new string[values.Count];
            var i = 0;
            foreach (var value in values)
            {
                array[i++] = value;
            }

            target[name] = array;
        }
    }
}
