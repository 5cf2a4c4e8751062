using StampedeGuard.Shared;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// One in-flight origin execution for a key, in this process: the engine's flight core (membership, closing, the run's
/// token, the store gate) plus what HTTP adds: the answer its clients wait for (<see cref="Head"/>) before the body they
/// read (<see cref="Body"/>) has arrived. The token is the flight's, not a client's: one client disconnecting cancels
/// nobody else; it is cancelled only when every attached client has gone before the origin finished.
/// </summary>
internal sealed class ResponseFlight(string key, long window, bool background, bool isRetry) : FlightCore
{
    private readonly TaskCompletionSource<FlightHead> _head = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IReadOnlyList<string>? _tags;
    private StampedeWriteCondition? _condition;
    private bool _originDone;
    private bool _abortedByOrigin;

    public string Key { get; } = key;

    /// <summary>Gets or sets the URL tag of the flight's key, so a purge of the URL can find it.</summary>
    public string? UrlTag { get; init; }

    /// <summary>Gets or sets a second key this flight is registered under: the variant key its response's <c>Vary</c> selects.</summary>
    public string? AliasKey { get; set; }

    public SharedResponseBuffer Body { get; } = new(window);

    /// <summary>Gets whether this flight is a background revalidation (no client started it).</summary>
    public override bool IsBackground { get; } = background;

    /// <summary>Gets whether the origin execution has ended (clients leaving can no longer cancel it).</summary>
    public override bool IsAnswered => Volatile.Read(ref _originDone);

    /// <summary>Gets whether this flight is the collapsed retry of a failed one (its failure is shared, not retried).</summary>
    public bool IsRetry { get; } = isRetry;

    public Task<FlightHead> Head => _head.Task;

    /// <summary>
    /// Gets whether the origin code aborted its own request (<c>HttpContext.Abort()</c>, which is how a forwarder says the
    /// origin's connection broke): whatever it wrote is a failure, never a complete response.
    /// </summary>
    public bool AbortedByOrigin => Volatile.Read(ref _abortedByOrigin);

    /// <summary>A new flight for <paramref name="key"/>, joined by the client that leads it.</summary>
    public static ResponseFlight Lead(string key, string urlTag, long window, bool background, bool isRetry)
    {
        var flight = new ResponseFlight(key, window, background, isRetry) { UrlTag = urlTag };
        flight.TryJoin();
        return flight;
    }

    /// <summary>
    /// Gets or sets the engine's write condition the execution began before it asked the origin (null over an
    /// application's own cache): a node reset since (a possible message gap) can make the execution unshareable.
    /// </summary>
    public StampedeWriteCondition? Condition
    {
        get => Volatile.Read(ref _condition);
        set => Volatile.Write(ref _condition, value);
    }

    /// <summary>
    /// Superseded (a purge) and no store under way: nothing will be stored by this execution, so the condition ends now
    /// and releases the engine's barrier it holds; the next execution (here or on another instance) need not wait for
    /// this one. Its clients are still answered.
    /// </summary>
    protected override void OnSettled() => Condition?.Dispose();

    /// <summary>Gets whether a client arriving now may join (see <see cref="StampedeWriteCondition.IsShareable"/>).</summary>
    public bool IsShareable => Condition?.IsShareable ?? true;

    /// <summary>Sets the tags the origin's response carries beside the URL's (known when its headers arrive): a purge of one supersedes the flight.</summary>
    public void SetTags(IReadOnlyList<string>? tags) => Volatile.Write(ref _tags, tags);

    /// <inheritdoc />
    public override bool HasTag(string tag) =>
        string.Equals(UrlTag, tag, StringComparison.Ordinal) || Volatile.Read(ref _tags)?.Contains(tag, StringComparer.Ordinal) == true;

    /// <summary>Detaches a client; the last one to leave an unfinished execution cancels it.</summary>
    public void Leave(BufferReader? reader)
    {
        if (reader is not null)
        {
            Body.Detach(reader);
        }

        Leave(cancelled: true);
    }

    /// <summary>The origin code called <c>HttpContext.Abort()</c>: the execution failed; its token is cancelled.</summary>
    public void AbortFromOrigin()
    {
        Volatile.Write(ref _abortedByOrigin, true);
        CancelRun();
    }

    public void OriginCompleted() => Volatile.Write(ref _originDone, true);

    public bool Publish(FlightHead head) => _head.TrySetResult(head);
}
