namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// One in-flight origin execution for a key, in this process: the answer its clients wait for (<see cref="Head"/>),
/// the body they read (<see cref="Body"/>), and the token the origin runs on. The token is the flight's, not a
/// client's: one client disconnecting cancels nobody else; it is cancelled only when every attached client has gone.
/// </summary>
internal sealed class ResponseFlight(string key, long window, bool background, bool isRetry) : IDisposable
{
    private readonly object _gate = new();
    private readonly TaskCompletionSource<FlightHead> _head = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _origin = new();
    private int _clients;
    private bool _closed;
    private bool _originDone;
    private bool _invalidated;
    private bool _abortedByOrigin;

    public string Key { get; } = key;

    /// <summary>Gets or sets the URL tag of the flight's key, so a purge of the URL can find it.</summary>
    public string? UrlTag { get; set; }

    /// <summary>Gets or sets whether the URL was purged while this execution ran: it answers its clients but stores nothing.</summary>
    public bool Invalidated
    {
        get => Volatile.Read(ref _invalidated);
        set => Volatile.Write(ref _invalidated, value);
    }

    /// <summary>Gets or sets a second key this flight is registered under: the variant key its response's <c>Vary</c> selects.</summary>
    public string? AliasKey { get; set; }

    public SharedResponseBuffer Body { get; } = new(window);

    /// <summary>Gets whether this flight is a background revalidation (no client started it).</summary>
    public bool IsBackground { get; } = background;

    /// <summary>Gets whether this flight is the collapsed retry of a failed one (its failure is shared, not retried).</summary>
    public bool IsRetry { get; } = isRetry;

    public Task<FlightHead> Head => _head.Task;

    public CancellationToken OriginToken => _origin.Token;

    /// <summary>Attaches a client; false when the flight no longer accepts clients (its response is not shareable).</summary>
    public bool TryJoin(out BufferReader? reader)
    {
        lock (_gate)
        {
            reader = null;
            if (_closed)
            {
                return false;
            }

            reader = Body.Attach();
            if (reader is null)
            {
                return false;
            }

            _clients++;
            return true;
        }
    }

    /// <summary>Detaches a client; the last one to leave an unfinished execution cancels it.</summary>
    public void Leave(BufferReader? reader)
    {
        if (reader is not null)
        {
            Body.Detach(reader);
        }

        bool cancel;
        lock (_gate)
        {
            _clients--;
            cancel = _clients <= 0 && !_originDone && !IsBackground;
        }

        if (cancel)
        {
            try
            {
                _origin.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Gets why the flight stopped accepting clients (the <c>Cache-Status</c> detail for those it turns away).</summary>
    public string? ClosedReason { get; private set; }

    /// <summary>Stops new clients from joining: they go to the origin themselves.</summary>
    /// <param name="reason">Why, for their <c>Cache-Status</c>.</param>
    public void Close(string reason)
    {
        lock (_gate)
        {
            _closed = true;
            ClosedReason ??= reason;
        }
    }

    /// <summary>
    /// Gets whether the origin code aborted its own request (<c>HttpContext.Abort()</c>, which is how a forwarder says the
    /// origin's connection broke): whatever it wrote is a failure, never a complete response.
    /// </summary>
    public bool AbortedByOrigin => Volatile.Read(ref _abortedByOrigin);

    /// <summary>The origin code called <c>HttpContext.Abort()</c>: the execution failed; its token is cancelled.</summary>
    public void AbortFromOrigin()
    {
        Volatile.Write(ref _abortedByOrigin, true);
        CancelOrigin();
    }

    public void CancelOrigin()
    {
        try
        {
            _origin.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void OriginCompleted()
    {
        lock (_gate)
        {
            _originDone = true;
        }
    }

    public bool Publish(FlightHead head) => _head.TrySetResult(head);

    public void Dispose() => _origin.Dispose();
}
