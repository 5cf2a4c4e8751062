using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using StampedeGuard.AspNetCore.Caching;
using StampedeGuard.AspNetCore.Internal;
using StampedeGuard.Shared;

namespace StampedeGuard.AspNetCore;

/// <summary>
/// The response caching pipeline, in one place. For each request:
/// <list type="number">
/// <item>Not GET/HEAD: pass to the origin (<c>fwd=method</c>); after a successful unsafe method, purge the URL and its
/// same-origin Location/Content-Location (RFC 9111 4.4).</item>
/// <item>Disabled endpoint, Upgrade: pass (<c>fwd=bypass</c>). Range: one byte range of a fresh stored 200 is served from it (206/416); otherwise pass. Range responses are never stored or served as 200.</item>
/// <item>Look up the URL's primary key (method, scheme, host, path, normalised query, keyed headers), then the variant the
/// stored <c>Vary</c> selects. A hit-for-pass marker: pass in parallel, no collapsing.</item>
/// <item>Fresh: serve it with <c>Age</c> (304 if the client's conditional matches).</item>
/// <item>Stale within stale-while-revalidate: serve it and start one background revalidation.</item>
/// <item>Otherwise (miss, or stale needing validation): join the key's flight or lead one. The leader runs the origin on a
/// copy of its context whose body fills a shared buffer; every client, the leader's included, streams from that buffer
/// at its own pace. When the headers arrive the flight decides: share and store, share without storing (5xx), or detach
/// the waiters (uncacheable: they go to the origin in parallel and the key is marked hit-for-pass).</item>
/// </list>
/// Every response gets a <c>Cache-Status</c> member (RFC 9211).
/// </summary>
internal sealed class StampedeResponseCachingMiddleware
{
    private const int MaxAttempts = 4;
    private static readonly string[] LocationHeaders = [HeaderNames.Location, HeaderNames.ContentLocation];

    private readonly RequestDelegate _next;
    private readonly ResponseCacheRuntime _runtime;
    private readonly StampedeResponseCachingOptions _options;
    private readonly string _name;

    public StampedeResponseCachingMiddleware(
        RequestDelegate next,
        ResponseCacheEngine engine,
        IOptions<StampedeResponseCachingOptions> options,
        ILoggerFactory loggerFactory,
        ResponseCachingMetrics metrics,
        IServiceScopeFactory scopes,
        FlightRegistry registry)
    {
        _next = next;
        _options = options.Value;
        _name = _options.CacheStatusName;
        _runtime = new ResponseCacheRuntime(next, engine, _options, loggerFactory.CreateLogger<StampedeResponseCachingMiddleware>(), metrics, scopes, registry);
    }

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            return IsSafe(request.Method) ? PassAsync(context, Forward.Method, null, RequestResult.Method) : PassAndInvalidateAsync(context);
        }

        var policy = context.GetEndpoint()?.Metadata.GetMetadata<StampedeResponseCacheAttribute>();
        if (policy is { Disabled: true })
        {
            return PassAsync(context, Forward.Bypass, "disabled", RequestResult.Bypass);
        }

        if (request.Headers.ContainsKey(HeaderNames.Range))
        {
            return RangeAsync(context, policy);
        }

        if (request.Headers.ContainsKey(HeaderNames.Upgrade))
        {
            return PassAsync(context, Forward.Bypass, "upgrade", RequestResult.Bypass);
        }

        return CacheAsync(context, policy);
    }

    private async Task CacheAsync(HttpContext context, StampedeResponseCacheAttribute? policy)
    {
        var request = context.Request;
        var directives = CacheControlDirectives.Parse(request.Headers.CacheControl);
        var clientBypass = _options.AllowClientBypass
            && (directives.NoCache || directives.MaxAge == TimeSpan.Zero || (!directives.Present && request.Headers.Pragma.ToString().Contains("no-cache", StringComparison.OrdinalIgnoreCase)));
        var urlKey = _runtime.Keys.UrlKey(request);
        var primaryKey = _runtime.Keys.PrimaryKey(urlKey, request, policy);
        string? avoid = null;
        var retrying = false;

        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            // 1. Look up: primary key, then the variant its vary marker selects.
            Lookup lookup;
            try
            {
                lookup = await LookupAsync(primaryKey, request.Headers).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.CacheFailed(_runtime.Logger, CacheKeyBuilder.UrlTag(urlKey), ex);
                await PassAsync(context, Forward.Miss, "cache-error", RequestResult.Pass).ConfigureAwait(false);
                return;
            }

            // 2. Hit-for-pass: this key is known to be uncacheable; go to the origin without collapsing.
            if (lookup.HitForPass)
            {
                await OnlyIfCachedOrPassAsync(context, directives, Forward.Bypass, "hit-for-pass").ConfigureAwait(false);
                return;
            }

            var now = _runtime.Time.GetUtcNow();
            if (lookup.Entry is { } entry && !clientBypass)
            {
                var ttl = entry.TimeToLive(now);
                var clientDirectives = _options.AllowClientBypass;

                // 3. Fresh hit (with client directives on: fresh for at least the request's min-fresh, RFC 9111 5.2.1.3).
                if (ttl > (clientDirectives && directives.MinFresh is { } minFresh ? minFresh : TimeSpan.Zero))
                {
                    _runtime.Metrics.Request(RequestResult.Hit);
                    await ResponseWriter.ServeStoredAsync(context, entry, CacheStatus.Hit(_name, ttl), now).ConfigureAwait(false);
                    return;
                }

                // The client accepts a stale response up to its max-stale (RFC 9111 5.2.1.2), unless the response forbids it.
                if (clientDirectives && ttl <= TimeSpan.Zero && directives.MaxStale is { } maxStale && !entry.NoStaleServing && -ttl <= maxStale)
                {
                    _runtime.Metrics.Request(RequestResult.Stale);
                    await ResponseWriter.ServeStoredAsync(context, entry, CacheStatus.Hit(_name, ttl, "max-stale"), now).ConfigureAwait(false);
                    return;
                }

                // 4. Stale, inside stale-while-revalidate: serve it, one background revalidation.
                if (ttl <= TimeSpan.Zero && !entry.NoStaleServing && -ttl < entry.StaleWhileRevalidate)
                {
                    _runtime.Metrics.Request(RequestResult.Stale);
                    StartBackgroundRevalidation(context, Plan(urlKey, primaryKey, lookup, policy, request, clientBypass: false));
                    await ResponseWriter.ServeStoredAsync(context, entry, CacheStatus.Hit(_name, ttl, "stale-while-revalidate"), now).ConfigureAwait(false);
                    return;
                }
            }

            // 5. only-if-cached: never go to the origin (RFC 9111 5.2.1.7).
            if (directives.OnlyIfCached)
            {
                _runtime.Metrics.Request(RequestResult.Miss);
                context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
                CacheStatus.Apply(context.Response.Headers, CacheStatus.Forward(_name, lookup.Fwd, detail: "only-if-cached"));
                return;
            }

            // A request's no-store (RFC 9111 5.2.1.5): nothing of its response may be stored, so it neither stores nor collapses.
            if (_options.AllowClientBypass && directives.NoStore)
            {
                await PassAsync(context, lookup.Fwd, "no-store", RequestResult.Pass).ConfigureAwait(false);
                return;
            }

            // HEAD misses are forwarded as they are; a later GET stores the response HEAD is then answered from.
            if (HttpMethods.IsHead(request.Method))
            {
                await PassAsync(context, lookup.Entry is null ? lookup.Fwd : Forward.Stale, "head", RequestResult.Pass).ConfigureAwait(false);
                return;
            }

            // 6. Miss or stale: collapse onto one origin execution.
            var plan = Plan(urlKey, primaryKey, lookup, policy, request, clientBypass);
            if (plan.FlightKey == avoid)
            {
                await PassAsync(context, Forward.VaryMiss, "vary-mismatch", RequestResult.Pass).ConfigureAwait(false);
                return;
            }

            var outcome = await CollapseAsync(context, plan, retrying).ConfigureAwait(false);
            switch (outcome.Kind)
            {
                case OutcomeKind.Done:
                    return;
                case OutcomeKind.Pass:
                    await PassAsync(context, plan.Fwd, outcome.Detail, RequestResult.Pass).ConfigureAwait(false);
                    return;
                case OutcomeKind.Retry:
                    avoid = null;
                    continue;
                case OutcomeKind.RetryCollapsed:
                    retrying = true;
                    avoid = null;
                    continue;
                case OutcomeKind.RetryOtherVariant:
                    avoid = plan.FlightKey;
                    continue;
            }
        }

        await PassAsync(context, Forward.Miss, "attempts", RequestResult.Pass).ConfigureAwait(false);
    }

    /// <summary>
    /// A Range request (RFC 9110 14): answered from a fresh stored full 200 when it asks for one satisfiable byte range
    /// (206) or none (416); anything else (a miss, stale, several ranges, If-Range) passes through, never stored.
    /// </summary>
    private async Task RangeAsync(HttpContext context, StampedeResponseCacheAttribute? policy)
    {
        var request = context.Request;
        if (HttpMethods.IsGet(request.Method) && !request.Headers.ContainsKey(HeaderNames.IfRange))
        {
            var urlKey = _runtime.Keys.UrlKey(request);
            Lookup lookup;
            try
            {
                lookup = await LookupAsync(_runtime.Keys.PrimaryKey(urlKey, request, policy), request.Headers).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.CacheFailed(_runtime.Logger, CacheKeyBuilder.UrlTag(urlKey), ex);
                lookup = default;
            }

            var now = _runtime.Time.GetUtcNow();
            if (lookup.Entry is { StatusCode: StatusCodes.Status200OK, Body: not null } entry && entry.TimeToLive(now) is var ttl && ttl > TimeSpan.Zero
                && await ResponseWriter.TryServeRangeAsync(context, entry, CacheStatus.Hit(_name, ttl, "range"), now).ConfigureAwait(false))
            {
                _runtime.Metrics.Request(RequestResult.Hit);
                return;
            }
        }

        await PassAsync(context, Forward.Bypass, "range", RequestResult.Bypass).ConfigureAwait(false);
    }

    /// <summary>Leads or joins the flight of <paramref name="plan"/>'s key and serves this client from it.</summary>
    private async Task<Outcome> CollapseAsync(HttpContext context, MissPlan plan, bool retrying)
    {
        var role = _runtime.Flights.JoinOrLead(
            plan.FlightKey,
            static lead => ResponseFlight.Lead(lead.Plan.FlightKey, lead.Plan.UrlTag, lead.Window, background: false, lead.Retrying),
            (Plan: plan, Window: _options.MaximumBodySize, Retrying: retrying),
            out var flight,
            static (running, _) => running.IsShareable); // an execution begun before a possible message gap is not joined late
        if (role == FlightRole.TurnedAway)
        {
            return new Outcome(OutcomeKind.Pass, flight.ClosedReason ?? "uncacheable"); // its response can't be shared: don't queue
        }

        var leader = role == FlightRole.Leader;
        var reader = flight.Body.Attach();
        if (reader is null)
        {
            // The body outgrew what a late joiner can replay since it joined: it is on its own.
            flight.Leave(cancelled: false);
            return new Outcome(OutcomeKind.Pass, flight.ClosedReason ?? "too-large");
        }

        Task? fetch = null;
        try
        {
            if (leader)
            {
                _runtime.Metrics.Request(RequestResult.Miss);
                fetch = new OriginFetch(_runtime, flight, plan, context).RunAsync();
            }
            else
            {
                _runtime.Metrics.Request(RequestResult.Collapsed);
            }

            return await ServeFromFlightAsync(context, flight, reader, leader, plan).ConfigureAwait(false);
        }
        finally
        {
            flight.Leave(reader);
            if (fetch is not null)
            {
                await fetch.ConfigureAwait(false); // the origin execution uses this request's services until it ends
            }
        }
    }

    private async Task<Outcome> ServeFromFlightAsync(HttpContext context, ResponseFlight flight, BufferReader reader, bool leader, MissPlan plan)
    {
        FlightHead head;
        if (leader)
        {
            head = await flight.Head.ConfigureAwait(false);
        }
        else
        {
            var started = _runtime.Time.GetTimestamp();
            try
            {
                head = _options.WaiterTimeout == Timeout.InfiniteTimeSpan
                    ? await flight.Head.WaitAsync(context.RequestAborted).ConfigureAwait(false)
                    : await flight.Head.WaitAsync(_options.WaiterTimeout, _runtime.Time, context.RequestAborted).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Never an origin request of its own while the flight's is outstanding (Squid's bug 1918): the waiter
                // gets the flight's failure, the one a timeout is, now.
                await GiveUpWaitingAsync(context, plan).ConfigureAwait(false);
                return new Outcome(OutcomeKind.Done, null);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return new Outcome(OutcomeKind.Done, null); // this client went away; nobody else is affected
            }

            _runtime.Metrics.WaiterWait.Record(_runtime.Time.GetElapsedTime(started).TotalSeconds);
        }

        switch (head.Kind)
        {
            case FlightHeadKind.Streaming:
                if (!leader)
                {
                    if (!head.Shareable)
                    {
                        return new Outcome(OutcomeKind.Pass, head.Detail);
                    }

                    if (head.RetryForWaiters)
                    {
                        return new Outcome(OutcomeKind.RetryCollapsed, null);
                    }

                    if (head.VaryHeaders is { } vary && !SameVariant(context.Request.Headers, vary, head.LeaderVaryValues!))
                    {
                        return new Outcome(OutcomeKind.RetryOtherVariant, null);
                    }
                }

                var status = CacheStatus.Forward(_name, plan.Fwd, head.TimeToLive, head.Storing, collapsed: !leader, head.Storing ? null : head.Detail);
                await ResponseWriter.StreamAsync(context, flight, reader, head, leader, status, _runtime.Time.GetUtcNow()).ConfigureAwait(false);
                return new Outcome(OutcomeKind.Done, null);

            case FlightHeadKind.Stored:
                var now = _runtime.Time.GetUtcNow();
                var stored = head.Stored!;
                TimeSpan? ttl = head.Detail == "origin-timeout" ? null : stored.TimeToLive(now); // this cache's own 504 has no freshness
                await ResponseWriter.ServeStoredAsync(context, stored, CacheStatus.Forward(_name, plan.Fwd, ttl, head.Storing, collapsed: !leader, head.Detail), now).ConfigureAwait(false);
                await context.Response.CompleteAsync().ConfigureAwait(false); // complete now: the leader's request may outlive a timed-out origin
                return new Outcome(OutcomeKind.Done, null);

            case FlightHeadKind.Failed:
                if (!leader && head.RetryForWaiters)
                {
                    return new Outcome(OutcomeKind.RetryCollapsed, null);
                }

                if (head.Failure!.SourceException is OriginAbortedException)
                {
                    context.Abort(); // the origin code aborted its request: every client of the execution sees the same
                    return new Outcome(OutcomeKind.Done, null);
                }

                head.Failure.Throw(); // the same failure for every client of the execution
                return default;

            case FlightHeadKind.Retry:
                return new Outcome(OutcomeKind.Retry, null);

            default:
                return new Outcome(OutcomeKind.Pass, head.Detail);
        }
    }

    /// <summary>
    /// A collapsed waiter ran out of <see cref="StampedeResponseCachingOptions.WaiterTimeout"/> before the flight had
    /// headers: it gets a stale response where stale-if-error allows (<c>detail=stale-if-error</c>), otherwise this cache's
    /// 504 (<c>detail=waiter-timeout</c>). The flight and its one origin request go on for the other clients.
    /// </summary>
    private Task GiveUpWaitingAsync(HttpContext context, MissPlan plan)
    {
        var now = _runtime.Time.GetUtcNow();
        if (plan.StaleOnError(now) is { } stale)
        {
            Log.WaiterGaveUp(_runtime.Logger, plan.LogKey, _options.WaiterTimeout.TotalSeconds, "a stale response (stale-if-error)");
            return ResponseWriter.ServeStoredAsync(context, stale, CacheStatus.Forward(_name, plan.Fwd, stale.TimeToLive(now), collapsed: true, detail: "stale-if-error"), now);
        }

        Log.WaiterGaveUp(_runtime.Logger, plan.LogKey, _options.WaiterTimeout.TotalSeconds, "504");
        return ResponseWriter.ServeStoredAsync(context, CachedResponse.GatewayTimeout(now), CacheStatus.Forward(_name, plan.Fwd, collapsed: true, detail: "waiter-timeout"), now);
    }

    private async ValueTask<Lookup> LookupAsync(string primaryKey, IHeaderDictionary requestHeaders)
    {
        var found = await _runtime.Cache.TryGetAsync<CachedResponse>(primaryKey).ConfigureAwait(false);
        if (!found.HasValue || found.Value is not { } value)
        {
            return new Lookup(null, null, primaryKey, Forward.UriMiss, HitForPass: false);
        }

        switch (value.Kind)
        {
            case CachedResponseKind.HitForPass:
                return new Lookup(null, null, primaryKey, Forward.UriMiss, HitForPass: true);
            case CachedResponseKind.VaryMarker:
                var variantKey = CacheKeyBuilder.VariantKey(primaryKey, value, requestHeaders);
                var variant = await _runtime.Cache.TryGetAsync<CachedResponse>(variantKey).ConfigureAwait(false);
                if (!variant.HasValue || variant.Value is not { } response)
                {
                    return new Lookup(null, value, variantKey, Forward.VaryMiss, HitForPass: false);
                }

                return response.Kind == CachedResponseKind.HitForPass
                    ? new Lookup(null, value, variantKey, Forward.VaryMiss, HitForPass: true)
                    : new Lookup(response, value, variantKey, Forward.Stale, HitForPass: false);
            default:
                return new Lookup(value, null, primaryKey, Forward.Stale, HitForPass: false);
        }
    }

    private static MissPlan Plan(string urlKey, string primaryKey, Lookup lookup, StampedeResponseCacheAttribute? policy, HttpRequest request, bool clientBypass) => new()
    {
        UrlKey = urlKey,
        UrlTag = CacheKeyBuilder.UrlTag(urlKey),
        PrimaryKey = primaryKey,
        FlightKey = lookup.FlightKey,
        Marker = lookup.Marker,
        Stale = lookup.Entry,
        Policy = policy,
        RequestHadAuthorization = request.Headers.ContainsKey(HeaderNames.Authorization),
        ForceOrigin = clientBypass,
        Fwd = clientBypass ? Forward.Request : lookup.Entry is not null ? Forward.Stale : lookup.Fwd,
    };

    private void StartBackgroundRevalidation(HttpContext context, MissPlan plan)
    {
        var flight = new ResponseFlight(plan.FlightKey, _options.MaximumBodySize, background: true, isRetry: true) { UrlTag = plan.UrlTag };
        if (!_runtime.Flights.TryLead(plan.FlightKey, flight))
        {
            return; // one revalidation per key at a time
        }

        OriginFetch fetch;
        try
        {
            fetch = new OriginFetch(_runtime, flight, plan, context); // copies what it needs from the request now
        }
        catch
        {
            _runtime.Remove(flight);
            throw;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await fetch.RunAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.BackgroundRevalidationFailed(_runtime.Logger, plan.LogKey, ex);
            }
        });
    }

    private Task OnlyIfCachedOrPassAsync(HttpContext context, CacheControlDirectives directives, Forward fwd, string detail)
    {
        if (directives.OnlyIfCached)
        {
            context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            CacheStatus.Apply(context.Response.Headers, CacheStatus.Forward(_name, Forward.Miss, detail: "only-if-cached"));
            return Task.CompletedTask;
        }

        return PassAsync(context, fwd, detail, RequestResult.Bypass);
    }

    /// <summary>Sends the request to the origin untouched by the cache; the response gets our Cache-Status member.</summary>
    private Task PassAsync(HttpContext context, Forward fwd, string? detail, RequestResult result)
    {
        _runtime.Metrics.Request(result);
        _runtime.Metrics.OriginRequests.Add(1);
        var status = CacheStatus.Forward(_name, fwd, detail: detail);
        context.Response.OnStarting(static state =>
        {
            var (response, value, options) = ((HttpResponse, string, StampedeResponseCachingOptions))state;
            foreach (var name in (ReadOnlySpan<string?>)[options.TargetedCacheControlHeader, options.TagsHeader])
            {
                if (name is not null)
                {
                    response.Headers.Remove(name);
                }
            }

            CacheStatus.Apply(response.Headers, value);
            return Task.CompletedTask;
        }, (context.Response, status, _options));
        return _next(context);
    }

    private async Task PassAndInvalidateAsync(HttpContext context)
    {
        await PassAsync(context, Forward.Method, null, RequestResult.Method).ConfigureAwait(false);
        var status = context.Response.StatusCode;
        if (status is < 200 or >= 400)
        {
            return;
        }

        // RFC 9111 4.4: a successful unsafe method invalidates the target URI and same-origin Location/Content-Location.
        var request = context.Request;
        var target = new Uri($"{request.Scheme}://{request.Host.ToUriComponent()}{request.PathBase.ToUriComponent()}{request.Path.ToUriComponent()}{request.QueryString.ToUriComponent()}");
        await PurgeQuietlyAsync(target, request.Method).ConfigureAwait(false);
        foreach (var name in LocationHeaders)
        {
            var value = context.Response.Headers[name].ToString();
            if (value.Length > 0 && Uri.TryCreate(target, value, out var other) && other.Scheme == target.Scheme && other.Authority == target.Authority && other != target)
            {
                await PurgeQuietlyAsync(other, request.Method).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask PurgeQuietlyAsync(Uri url, string method)
    {
        try
        {
            var tag = CacheKeyBuilder.UrlTag(_runtime.Keys.UrlKey(url));
            await _runtime.Registry.InvalidateAsync(tag).ConfigureAwait(false);
            Log.Invalidated(_runtime.Logger, url.GetLeftPart(UriPartial.Path), method);
        }
        catch (Exception ex)
        {
            Log.CacheFailed(_runtime.Logger, CacheKeyBuilder.UrlTag(_runtime.Keys.UrlKey(url)), ex);
        }
    }

    private static bool SameVariant(IHeaderDictionary headers, string[] names, string[] leaderValues)
    {
        for (var i = 0; i < names.Length; i++)
        {
            if (CacheKeyBuilder.NormalizedValue(headers, names[i]) != leaderValues[i])
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsSafe(string method) =>
        HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method) || HttpMethods.IsConnect(method);

    private enum OutcomeKind
    {
        /// <summary>The client has its response.</summary>
        Done,

        /// <summary>Send the client to the origin uncollapsed; the detail says why.</summary>
        Pass,

        /// <summary>Look the key up again (the flight's answer is for a later lookup, e.g. a vary marker).</summary>
        Retry,

        /// <summary>Look up again and join (or lead) the one collapsed retry of a failed execution.</summary>
        RetryCollapsed,

        /// <summary>Look up again; the flight that was joined serves another variant, so don't join it again.</summary>
        RetryOtherVariant,
    }

    private readonly record struct Outcome(OutcomeKind Kind, string? Detail);

    private readonly record struct Lookup(CachedResponse? Entry, CachedResponse? Marker, string FlightKey, Forward Fwd, bool HitForPass);
}
