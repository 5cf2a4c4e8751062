using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;
using StampedeGuard.AspNetCore.Caching;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// One origin execution for a flight: runs the app (or the forwarder) on an origin context, decides when the headers
/// arrive (store? share? detach the waiters? revalidated by a 304? replaced by stale-if-error?), feeds the body into the
/// flight's buffer, and stores the result through the engine's write condition. It is the request's only flight: the
/// engine's barrier (<see cref="StampedeCache.ReadOrAcquireAsync{T}"/>) collapses the execution across instances too
/// and fences its store.
/// </summary>
internal sealed class OriginFetch : IOriginResponseSink
{
    private static readonly string[] ClientConditionals = [HeaderNames.IfNoneMatch, HeaderNames.IfModifiedSince];

    private readonly ResponseCacheRuntime _runtime;
    private readonly ResponseFlight _flight;
    private readonly MissPlan _plan;
    private readonly OriginResponse _response;
    private readonly HttpContext _origin;
    private readonly AsyncServiceScope? _scope;
    private DateTimeOffset _requestTime;
    private StorePlan? _store;
    private bool _headersPublished;
    private bool _hitForPassSet;
    private OriginDeadline? _deadline;
    
    public OriginFetch(ResponseCacheRuntime runtime, ResponseFlight flight, MissPlan plan, HttpContext client)
    {
        _runtime = runtime;
        _flight = flight;
        _plan = plan;
        if (flight.IsBackground)
        {
            _response = new OriginResponse(this, completionTarget: null);
            (_origin, var scope) = OriginContextFactory.CreateDetached(client, _response, flight, runtime.Scopes);
            _scope = scope;
        }
        else
        {
            _response = new OriginResponse(this, client.Features.Get<IHttpResponseFeature>());
            _origin = OriginContextFactory.CreateLayered(client, _response, flight);
        }
    }

    /// <summary>
    /// Runs the execution to its end. Never throws: failures reach the clients through the flight. This is the only
    /// flight of the request. Over the engine, the write condition begins before anything is read, and the engine's
    /// read-or-acquire is the double check and the cross-instance barrier in one round trip (it waits for another
    /// instance's execution, bounded by half the waiter timeout); the store is then fenced by that barrier and
    /// conditional on no purge since. Over an application's own <see cref="IStampedeCache"/>, a read is the double
    /// check (collapsed in this process only).
    /// </summary>
    public async Task RunAsync()
    {
        try
        {
            if (_runtime.Cache is StampedeCache engine)
            {
                // Whatever the origin answers is stored only if no purge (of the URL, of one of the response's tags, on
                // this instance or another) returned after this point. See StoreAsync.
                _flight.Condition = await engine.BeginConditionalWriteAsync(_flight.Token).ConfigureAwait(false);
                if (!_plan.ForceOrigin)
                {
                    // Double-checked: a response stored since this request looked (by the previous flight here, or by
                    // another instance's execution this one waited for at the barrier) answers the flight.
                    var found = await engine.ReadOrAcquireAsync<CachedResponse>(_plan.FlightKey, _flight.Condition, _runtime.BarrierOptions, _flight.Token).ConfigureAwait(false);
                    if (found.Value is { } stored && TryPublishStored(stored))
                    {
                        return;
                    }

                    if (_flight.IsSuperseded)
                    {
                        await _flight.Condition.DisposeAsync().ConfigureAwait(false); // purged before the barrier was held: it stores nothing
                    }
                }
            }
            else if (!_plan.ForceOrigin && (await _runtime.Cache.TryGetAsync<CachedResponse>(_plan.FlightKey).ConfigureAwait(false)).Value is { } stored && TryPublishStored(stored))
            {
                return;
            }

            await FetchAndSetAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The cache itself failed (for example the distributed tier, when configured to throw), or every client
            // left while the leader waited at the barrier (not a fault: nothing to log).
            if (ex is not OperationCanceledException || !_flight.Token.IsCancellationRequested)
            {
                Log.CacheFailed(_runtime.Logger, _plan.LogKey, ex);
            }

            if (!_headersPublished)
            {
                Finish(new FlightHead { Kind = FlightHeadKind.Detached, Detail = "cache-error" });
            }

            _flight.Body.Complete(ex);
        }
        finally
        {
            if (_flight.Condition is { } condition)
            {
                await condition.DisposeAsync().ConfigureAwait(false); // releases the barrier if no store did
            }

            _flight.OriginCompleted();
            _runtime.Remove(_flight);
            if (_flight.IsBackground)
            {
                await _response.DisposeAsync().ConfigureAwait(false);
            }

            if (_scope is { } scope)
            {
                await scope.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>After the barrier: the double check. A response stored meanwhile (newer than the stale one we had) answers the flight.</summary>
    private bool TryPublishStored(CachedResponse value)
    {
        if (value.Kind == CachedResponseKind.Response && (value.TimeToLive(_runtime.Time.GetUtcNow()) <= TimeSpan.Zero || (_plan.Stale is { } stale && value.ResponseTime <= stale.ResponseTime)))
        {
            return false; // nothing newer: revalidate it ourselves
        }

        PublishStored(value);
        return true;
    }

    private async Task FetchAndSetAsync()
    {
        var (value, store) = await FetchAsync().ConfigureAwait(false);
        if (store is not null)
        {
            // Storing is best effort for the clients of this flight: a store the distributed tier could not confirm
            // (Redis down) is logged, and the response they are reading is not cut off for it.
            await StoreBestEffortAsync(StoreAsync(_plan.FlightKey, value, store)).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the origin once; returns the value for the engine and its options, or null options for "do not store".</summary>
    private async ValueTask<(CachedResponse Value, StampedeCacheEntryOptions? Store)> FetchAsync()
    {
        var headers = _origin.Request.Headers;
        foreach (var name in ClientConditionals)
        {
            headers.Remove(name); // the cache answers the client's conditionals itself, from a full response
        }

        if (_plan.Stale is { } stale)
        {
            // Revalidate with the stale entry's validators (RFC 9111 4.3.1).
            if (stale.ETag is { } etag)
            {
                headers.IfNoneMatch = etag;
            }

            if (stale.LastModified is { } lastModified)
            {
                headers.IfModifiedSince = lastModified;
            }
        }

        _runtime.Metrics.OriginRequests.Add(1);
        using var activity = ResponseCachingActivity.Source.StartActivity("stampedeguard.http.origin", ActivityKind.Internal);
        activity?.SetTag("stampedeguard.http.revalidation", _plan.Stale is not null);
        activity?.SetTag("stampedeguard.http.background", _flight.IsBackground);
        _requestTime = _runtime.Time.GetUtcNow();
        Exception? failure = null;
        using var deadline = new OriginDeadline(_runtime.Time, _runtime.Options.OriginTimeout, OnOriginTimeout);
        _deadline = deadline;
        try
        {
            await _runtime.Next(_origin).ConfigureAwait(false);
            if (_flight.AbortedByOrigin)
            {
                throw new OriginAbortedException(); // a broken response (a forwarder's dropped connection), never a complete one
            }

            await _response.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        activity?.SetTag("http.response.status_code", _response.StatusCode);
        activity?.SetTag("stampedeguard.http.stored", _store is { } planned && (planned.Evaluation?.Storable ?? planned.Replacement is not null));
        if (failure is not null)
        {
            activity?.SetStatus(ActivityStatusCode.Error, failure.GetType().Name);
        }

        _flight.OriginCompleted(); // from here on, clients leaving must not cancel the (finished) execution's token

        if (deadline.TimedOut)
        {
            _flight.Body.Complete(null);
            return (Transient, null); // its clients already have the 504 (or stale); nothing is stored
        }

        if (failure is not null)
        {
            Log.OriginFailed(_runtime.Logger, _plan.LogKey, _runtime.Options.FailureMode.ToString(), failure);
            _flight.Body.Complete(failure);
            if (!_headersPublished)
            {
                return FailedBeforeHeaders(failure);
            }

            return (Transient, null);
        }

        _flight.Body.Complete(null);
        if (_flight.IsSuperseded)
        {
            return (Transient, null); // purged while this execution ran: answer the clients, store nothing
        }

        var plan = _store;
        if (plan?.Replacement is { } replacement)
        {
            return plan.ReplacementIsNew ? (replacement, _runtime.EntryOptions(replacement, Tags())) : (replacement, null);
        }

        if (plan?.Evaluation is { Storable: true, Entry: { } entry })
        {
            var body = _flight.Body.ToArray();
            var declared = entry.Header(HeaderNames.ContentLength);
            var truncated = declared is not null && (!long.TryParse(declared, out var length) || length != body?.Length);
            if (body is not null && body.Length <= _runtime.Options.MaximumBodySize && !truncated)
            {
                entry.Body = body;
                _runtime.Metrics.Stored.Add(1);
                var options = _runtime.EntryOptions(entry, Tags());
                if (plan.VariantKey is { } variantKey && variantKey != _plan.FlightKey)
                {
                    await StoreBestEffortAsync(StoreAsync(variantKey, entry, options)).ConfigureAwait(false);
                    return _plan.FlightKey == _plan.PrimaryKey && plan.Marker is { } marker
                        ? (marker, _runtime.MarkerOptions(entry, [_plan.UrlTag]))
                        : (entry, null);
                }

                return (entry, options);
            }

            if (!truncated)
            {
                await SetHitForPassAsync("too-large").ConfigureAwait(false);
            }
        }

        if (_hitForPassSet)
        {
            return (CachedResponse.HitForPass(plan?.Evaluation?.Reason ?? "uncacheable"), _runtime.HitForPassOptions(_plan.UrlTag));
        }

        return (Transient, null);
    }

    private static CachedResponse Transient => CachedResponse.HitForPass("transient");

    public async ValueTask<bool> OnHeadersAsync(OriginResponse response)
    {
        if (_deadline is { } deadline && !deadline.TryClaimHeaders())
        {
            return false; // too late: the clients were answered at the timeout; discard this body
        }

        var now = _runtime.Time.GetUtcNow();
        var status = response.StatusCode;
        var headers = response.Headers;
        var options = _runtime.Options;

        var decision = OriginDecision.Decide(status, headers, _plan, _flight.IsRetry, _requestTime, now, options);
        switch (decision.Action)
        {
            case OriginAction.MergeNotModified:
                _store = new StorePlan { Replacement = decision.Answer, ReplacementIsNew = true };
                Finish(new FlightHead { Kind = FlightHeadKind.Stored, Stored = decision.Answer, StatusCode = decision.Answer!.StatusCode, Shareable = true, Storing = true });
                return false;
            case OriginAction.ServeStaleIfError:
                Log.StaleIfError(_runtime.Logger, _plan.LogKey);
                _store = new StorePlan { Replacement = decision.Answer };
                Finish(new FlightHead { Kind = FlightHeadKind.Stored, Stored = decision.Answer, StatusCode = decision.Answer!.StatusCode, Shareable = true, Detail = "stale-if-error" });
                return false;
        }

        var evaluation = decision.Evaluation!;
        var vary = evaluation.VaryHeaders;
        CachedResponse? marker = null;
        string? variantKey = null;
        if (evaluation.Storable && vary is not null)
        {
            marker = _plan.Marker is { VaryHeaders: { } known } existing && known.SequenceEqual(vary)
                ? existing
                : new CachedResponse { Kind = CachedResponseKind.VaryMarker, VaryHeaders = vary, VaryId = Guid.NewGuid().ToString("N") };
            variantKey = CacheKeyBuilder.VariantKey(_plan.PrimaryKey, marker, _origin.Request.Headers);
        }

        _store = new StorePlan { Evaluation = evaluation, Marker = marker, VariantKey = variantKey };
        _flight.SetTags(evaluation.Tags ?? (IReadOnlyList<string>?)_plan.Policy?.Tags); // a purge of one of them supersedes it from now on
        var retryForWaiters = decision.RetryForWaiters;
        if (!evaluation.Storable)
        {
            Log.NotStored(_runtime.Logger, _plan.FlightKey, evaluation.Reason ?? "unknown");
            _flight.Body.AllowTrimming();
        }

        if (!evaluation.Shareable)
        {
            _flight.Close(evaluation.Reason ?? "uncacheable"); // newcomers go to the origin in parallel
        }

        if (retryForWaiters)
        {
            _runtime.Remove(_flight); // newcomers start the one collapsed retry with the waiters
        }

        if (evaluation.HitForPass)
        {
            await SetHitForPassAsync(evaluation.Reason ?? "uncacheable").ConfigureAwait(false);
        }

        if (marker is not null && variantKey is not null)
        {
            if (variantKey != _flight.Key && evaluation.Shareable && _runtime.Flights.TryLead(variantKey, _flight))
            {
                // Requests that find the marker look for the variant's flight: this one is it.
                _flight.AliasKey = variantKey;
            }

            if (!ReferenceEquals(marker, _plan.Marker))
            {
                await TryAsync(StoreAsync(_plan.PrimaryKey, marker, _runtime.MarkerOptions(evaluation.Entry, [_plan.UrlTag]))).ConfigureAwait(false);
            }
        }

        var (full, shared) = HeaderSnapshot.Take(headers, options);
        _headersPublished = true;
        _flight.Publish(new FlightHead
        {
            Kind = FlightHeadKind.Streaming,
            StatusCode = status,
            Headers = full,
            SharedHeaders = shared,
            Shareable = evaluation.Shareable,
            RetryForWaiters = retryForWaiters,
            Storing = evaluation.Storable,
            TimeToLive = evaluation.Entry?.TimeToLive(now),
            VaryHeaders = vary,
            LeaderVaryValues = vary?.Select(n => CacheKeyBuilder.NormalizedValue(_origin.Request.Headers, n)).ToArray(),
            Detail = evaluation.Reason,
        });
        return true;
    }

    public async ValueTask OnBodyAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_store?.Evaluation is { Storable: true } evaluation && _flight.Body.Length + data.Length > _runtime.Options.MaximumBodySize)
        {
            // Grew past the limit while streaming: stop storing, keep streaming to whoever is attached, pass newcomers.
            evaluation.Storable = false;
            evaluation.Reason = "too-large";
            _flight.Body.AllowTrimming();
            _flight.Close("too-large");
            await SetHitForPassAsync("too-large").ConfigureAwait(false);
        }

        await _flight.Body.AppendAsync(data, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The origin sent no headers within <see cref="StampedeResponseCachingOptions.OriginTimeout"/>: every client of
    /// the flight gets the same stale response (stale-if-error) or 504, at once. The origin's token is cancelled, but
    /// the flight stays registered until the origin code returns: newcomers get the same answer instead of a second
    /// execution against a hung origin.
    /// </summary>
    private void OnOriginTimeout()
    {
        Log.OriginTimedOut(_runtime.Logger, _plan.LogKey, _runtime.Options.OriginTimeout.TotalSeconds);
        var now = _runtime.Time.GetUtcNow();
        _headersPublished = true;
        if (CanServeStaleOnError(now) is { } fallback)
        {
            Log.StaleIfError(_runtime.Logger, _plan.LogKey);
            _flight.Publish(new FlightHead { Kind = FlightHeadKind.Stored, Stored = fallback, StatusCode = fallback.StatusCode, Shareable = true, Detail = "stale-if-error" });
        }
        else
        {
            var timeout = CachedResponse.GatewayTimeout(now);
            _flight.Publish(new FlightHead { Kind = FlightHeadKind.Stored, Stored = timeout, StatusCode = timeout.StatusCode, Shareable = true, Detail = "origin-timeout" });
        }

        _flight.CancelRun();
    }

    private (CachedResponse, StampedeCacheEntryOptions?) FailedBeforeHeaders(Exception failure)
    {
        if (CanServeStaleOnError(_runtime.Time.GetUtcNow()) is { } fallback)
        {
            Log.StaleIfError(_runtime.Logger, _plan.LogKey);
            Finish(new FlightHead { Kind = FlightHeadKind.Stored, Stored = fallback, StatusCode = fallback.StatusCode, Shareable = true, Detail = "stale-if-error" });
            return (fallback, null);
        }

        var retry = _runtime.Options.FailureMode == OriginFailureMode.RetryOnce && !_flight.IsRetry;
        Finish(new FlightHead { Kind = FlightHeadKind.Failed, Failure = ExceptionDispatchInfo.Capture(failure), RetryForWaiters = retry, Detail = "origin-error" });
        return (Transient, null);
    }

    /// <summary>Another instance (or a racing local flight) stored a value for the key while this one waited at the barrier.</summary>
    private void PublishStored(CachedResponse value)
    {
        switch (value.Kind)
        {
            case CachedResponseKind.Response:
                Finish(new FlightHead { Kind = FlightHeadKind.Stored, Stored = value, StatusCode = value.StatusCode, Shareable = true });
                break;
            case CachedResponseKind.HitForPass:
                Finish(new FlightHead { Kind = FlightHeadKind.Detached, Detail = "hit-for-pass" });
                break;
            default:
                Finish(new FlightHead { Kind = FlightHeadKind.Retry });
                break;
        }

        _flight.Body.Complete(null);
    }

    /// <summary>Publishes a final answer; the flight leaves the registry first so nobody re-joins a finished flight.</summary>
    private void Finish(FlightHead head)
    {
        _headersPublished = true;
        if (head.Kind != FlightHeadKind.Stored)
        {
            _runtime.Remove(_flight);
        }

        _flight.Publish(head);
    }

    private CachedResponse? CanServeStaleOnError(DateTimeOffset now) => _plan.StaleOnError(now);

    private async ValueTask SetHitForPassAsync(string reason)
    {
        if (_hitForPassSet || _runtime.Options.HitForPassDuration <= TimeSpan.Zero)
        {
            return;
        }

        _hitForPassSet = true;
        _runtime.Metrics.HitForPass.Add(1);
        Log.HitForPassSet(_runtime.Logger, _plan.FlightKey, reason, _runtime.Options.HitForPassDuration.TotalSeconds);
        await TryAsync(StoreAsync(_plan.FlightKey, CachedResponse.HitForPass(reason), _runtime.HitForPassOptions(_plan.UrlTag))).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores what this execution fetched, conditional on no invalidation since it began (the engine's store gate: a
    /// purge of the URL or of one of the entry's tags, here or on another instance, that returned while the origin ran
    /// wins). Over an <see cref="IStampedeCache"/> other than the engine, a plain set.
    /// </summary>
    private async ValueTask StoreAsync(string key, CachedResponse value, StampedeCacheEntryOptions options)
    {
        // The flight's own store gate first (a purge here waits for this store, then applies), then the engine's.
        if (!_flight.TryBeginStore())
        {
            StoreRefused();
            return;
        }

        try
        {
            if (_flight.Condition is not { } condition)
            {
                await _runtime.Cache.SetAsync(key, value, options).ConfigureAwait(false); // an application's own IStampedeCache
            }
            else if (!await ((StampedeCache)_runtime.Cache).SetIfUnchangedAsync(key, value, condition, options).ConfigureAwait(false))
            {
                StoreRefused();
            }
        }
        finally
        {
            _flight.EndStore();
        }
    }

    private void StoreRefused()
    {
        _runtime.Metrics.StoresRefused.Add(1);
        Log.StoreRefused(_runtime.Logger, _plan.LogKey);
    }

    /// <summary>A store the distributed tier could not confirm (it throws <see cref="StampedeInvalidationException"/>) is logged, not fatal to the response.</summary>
    private async ValueTask StoreBestEffortAsync(ValueTask store)
    {
        try
        {
            await store.ConfigureAwait(false);
        }
        catch (StampedeInvalidationException ex)
        {
            Log.CacheFailed(_runtime.Logger, _plan.LogKey, ex);
        }
    }

    private async ValueTask TryAsync(ValueTask operation)
    {
        try
        {
            await operation.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.CacheFailed(_runtime.Logger, _plan.LogKey, ex);
        }
    }

    private List<string> Tags()
    {
        var tags = new List<string> { _plan.UrlTag };
        if (_store?.Evaluation?.Tags is { } extra)
        {
            tags.AddRange(extra);
        }
        else if (_plan.Policy?.Tags is { } policyTags)
        {
            tags.AddRange(policyTags);
        }

        return tags;
    }

    /// <summary>
    /// What the execution will store, decided once when the origin's headers arrive: a replacement (a merged 304, stored
    /// anew; a stale-if-error response, kept as it is), or the origin's response as evaluated, with the vary marker and
    /// variant key it is stored under.
    /// </summary>
    private sealed class StorePlan
    {
        public CachedResponse? Replacement { get; init; }

        public bool ReplacementIsNew { get; init; }

        public ResponseEvaluation? Evaluation { get; init; }

        public CachedResponse? Marker { get; init; }

        public string? VariantKey { get; init; }
    }
}
