using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>Writes responses to clients: stored ones (hits, with <c>Age</c> and 304s for conditional requests) and streamed ones (from a flight's shared buffer).</summary>
internal static class ResponseWriter
{
    private static readonly string[] NotIn304 =
    [
        HeaderNames.ContentLength, HeaderNames.ContentType, HeaderNames.ContentEncoding, HeaderNames.ContentLanguage,
        HeaderNames.ContentRange, HeaderNames.ContentMD5, HeaderNames.ContentDisposition,
    ];

    private static readonly string?[] AgeValues = new string?[4096];

    public static Task ServeStoredAsync(HttpContext context, CachedResponse entry, string cacheStatus, DateTimeOffset now)
    {
        var response = context.Response;
        response.StatusCode = entry.StatusCode;
        var headers = response.Headers;
        foreach (var (name, values) in entry.Headers)
        {
            headers[name] = values;
        }

        SetAge(headers, entry, now);
        CacheStatus.Apply(headers, cacheStatus);

        if (entry.StatusCode == StatusCodes.Status200OK && IsNotModified(context.Request.Headers, entry.ETag, entry.LastModified ?? entry.Header(HeaderNames.Date), now))
        {
            NotModified(response);
            return Task.CompletedTask;
        }

        var body = entry.Body ?? [];
        response.ContentLength = body.Length;
        if (HttpMethods.IsHead(context.Request.Method) || body.Length == 0)
        {
            return Task.CompletedTask;
        }

        return response.Body.WriteAsync(body, 0, body.Length, context.RequestAborted);
    }

    /// <summary>
    /// Serves one byte range of a stored full response (RFC 9110 14.2): 206 with <c>Content-Range</c>, or 416 when the
    /// range starts past the end. False (the caller passes the request on) for several ranges or an unparseable field.
    /// </summary>
    public static async ValueTask<bool> TryServeRangeAsync(HttpContext context, CachedResponse entry, string cacheStatus, DateTimeOffset now)
    {
        var body = entry.Body!;
        if (!RangeHeaderValue.TryParse(context.Request.Headers.Range.ToString(), out var range)
            || !range.Unit.Equals("bytes", StringComparison.OrdinalIgnoreCase) || range.Ranges.Count != 1)
        {
            return false;
        }

        var item = range.Ranges.First();
        long length = body.Length;
        long from;
        long to;
        if (item.From is { } start)
        {
            from = start;
            to = item.To is { } end && end < length ? end : length - 1;
        }
        else
        {
            from = Math.Max(0, length - item.To!.Value); // suffix: the last N bytes
            to = length - 1;
        }

        var response = context.Response;
        if (from >= length || (item.From is null && item.To == 0))
        {
            response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
            response.Headers.ContentRange = "bytes */" + length.ToString(CultureInfo.InvariantCulture);
            CacheStatus.Apply(response.Headers, cacheStatus);
            return true;
        }

        foreach (var (name, values) in entry.Headers)
        {
            response.Headers[name] = values;
        }

        response.StatusCode = StatusCodes.Status206PartialContent;
        SetAge(response.Headers, entry, now);
        response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {from}-{to}/{length}");
        response.ContentLength = to - from + 1;
        CacheStatus.Apply(response.Headers, cacheStatus);
        await response.Body.WriteAsync(body.AsMemory((int)from, (int)(to - from + 1)), context.RequestAborted).ConfigureAwait(false);
        return true;
    }

    /// <summary>Streams a flight's response to one client, at that client's own pace, until the body ends or the client goes.</summary>
    public static async Task StreamAsync(HttpContext context, ResponseFlight flight, BufferReader reader, FlightHead head, bool leader, string cacheStatus, DateTimeOffset now)
    {
        var response = context.Response;
        response.StatusCode = head.StatusCode;
        var source = leader ? head.Headers : head.SharedHeaders;
        foreach (var (name, values) in source!)
        {
            response.Headers[name] = values;
        }

        if (!leader && !response.Headers.ContainsKey(HeaderNames.Age))
        {
            response.Headers.Age = "0";
        }

        CacheStatus.Apply(response.Headers, cacheStatus);
        if (head.StatusCode == StatusCodes.Status200OK && IsNotModified(context.Request.Headers, Get(source!, HeaderNames.ETag), Get(source!, HeaderNames.LastModified), now))
        {
            NotModified(response);
            return;
        }

        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        var cancellationToken = context.RequestAborted;
        try
        {
            await response.StartAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                var read = await flight.Body.ReadAsync(reader, cancellationToken).ConfigureAwait(false);
                if (!read.Data.IsEmpty)
                {
                    await response.Body.WriteAsync(read.Data, cancellationToken).ConfigureAwait(false);
                    flight.Body.Advance(reader, read.Data.Length);
                    continue;
                }

                if (read.Fault is not null)
                {
                    // The origin failed mid-body: the client must see a broken response, not a short one.
                    context.Abort();
                }

                return;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException || cancellationToken.IsCancellationRequested)
        {
            // This client went away; the others and the origin go on.
        }
    }

    /// <summary>
    /// Whether a conditional GET/HEAD is answered with 304 (RFC 9110 13.2.2): If-None-Match (weak comparison) wins;
    /// If-Modified-Since only counts when there is no If-None-Match.
    /// </summary>
    public static bool IsNotModified(IHeaderDictionary request, string? etag, string? lastModified, DateTimeOffset now)
    {
        if (request.TryGetValue(HeaderNames.IfNoneMatch, out var ifNoneMatch) && ifNoneMatch.Count > 0)
        {
            return HeaderRules.IfNoneMatchMatches(ifNoneMatch, etag);
        }

        return request.TryGetValue(HeaderNames.IfModifiedSince, out var ims)
            && HeaderRules.TryParseDate(ims, now, out var since)
            && lastModified is not null
            && HeaderRules.TryParseDate(lastModified, now, out var modified)
            && modified <= since;
    }

    /// <summary>Age on every response served from the cache (RFC 9111 5.1), in whole seconds.</summary>
    private static void SetAge(IHeaderDictionary headers, CachedResponse entry, DateTimeOffset now)
    {
        var age = (long)Math.Max(0, Math.Floor(entry.CurrentAge(now).TotalSeconds));
        headers.Age = age < AgeValues.Length ? AgeValues[age] ??= age.ToString(CultureInfo.InvariantCulture) : age.ToString(CultureInfo.InvariantCulture);
    }

    public static string? Get(Dictionary<string, string[]> headers, string name) =>
        headers.TryGetValue(name, out var values) && values.Length > 0 ? values[0] : null;

    private static void NotModified(HttpResponse response)
    {
        response.StatusCode = StatusCodes.Status304NotModified;
        foreach (var name in NotIn304)
        {
            response.Headers.Remove(name);
        }
    }
}
