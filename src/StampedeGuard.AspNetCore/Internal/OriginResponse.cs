using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// The response features of an origin execution. The app (or the forwarder) writes its status, headers and body here;
/// its <c>OnStarting</c> callbacks run when the headers become final (so fields they add, like a session's Set-Cookie, are
/// seen before anything is decided), and the body goes to an <see cref="IOriginResponseSink"/>, never to a client.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The body stream holds no resources.")]
internal sealed class OriginResponse : IHttpResponseFeature, IHttpResponseBodyFeature
{
    private readonly IOriginResponseSink _sink;
    private readonly IHttpResponseFeature? _completionTarget;
    private readonly OriginResponseStream _stream;
    private List<(Func<object, Task> Callback, object State)>? _onStarting;
    private List<(Func<object, Task> Callback, object State)>? _onCompleted;
    private PipeWriter? _writer;
    private bool _keepBody;
    private bool _completed;
    private Task? _start;

    /// <summary>Creates the features.</summary>
    /// <param name="sink">Where headers and body go.</param>
    /// <param name="completionTarget">The client's response feature that runs OnCompleted callbacks (and so disposals); null for a background execution (they run at <see cref="DisposeAsync"/>).</param>
    public OriginResponse(IOriginResponseSink sink, IHttpResponseFeature? completionTarget)
    {
        _sink = sink;
        _completionTarget = completionTarget;
        _stream = new OriginResponseStream(this);
    }

    public int StatusCode { get; set; } = StatusCodes.Status200OK;

    public string? ReasonPhrase { get; set; }

    public IHeaderDictionary Headers { get; set; } = new HeaderDictionary();

    [Obsolete("Use IHttpResponseBodyFeature.Stream instead.", error: false)]
    public Stream Body
    {
        get => _stream;
        set => throw new NotSupportedException("The response body of a cached execution cannot be replaced.");
    }

    public bool HasStarted { get; private set; }

    /// <summary>Gets how many body bytes the origin wrote.</summary>
    public long BodyLength { get; private set; }

    public Stream Stream => _stream;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));

    public void OnStarting(Func<object, Task> callback, object state)
    {
        if (HasStarted)
        {
            throw new InvalidOperationException("The response has already started.");
        }

        (_onStarting ??= []).Add((callback, state));
    }

    public void OnCompleted(Func<object, Task> callback, object state)
    {
        if (_completionTarget is not null)
        {
            _completionTarget.OnCompleted(callback, state);
        }
        else
        {
            (_onCompleted ??= []).Add((callback, state));
        }
    }

    public void DisableBuffering()
    {
    }

    public Task StartAsync(CancellationToken cancellationToken = default) => _start ??= StartCoreAsync();

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        SendFileFallback.SendFileAsync(_stream, path, offset, count, cancellationToken);

    public async Task CompleteAsync()
    {
        if (_completed)
        {
            return;
        }

        if (_writer is not null)
        {
            await _writer.FlushAsync().ConfigureAwait(false);
        }

        await StartAsync().ConfigureAwait(false);
        _completed = true;
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
        if (data.IsEmpty)
        {
            return;
        }

        BodyLength += data.Length;
        if (_keepBody)
        {
            await _sink.OnBodyAsync(data, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the OnCompleted callbacks (which include disposals) of a background execution.</summary>
    /// <returns>A task that completes when they have run.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_onCompleted is not null)
        {
            for (var i = _onCompleted.Count - 1; i >= 0; i--)
            {
                await _onCompleted[i].Callback(_onCompleted[i].State).ConfigureAwait(false);
            }
        }

    }

    private async Task StartCoreAsync()
    {
        if (_onStarting is not null)
        {
            // Like the server: last registered runs first.
            for (var i = _onStarting.Count - 1; i >= 0; i--)
            {
                await _onStarting[i].Callback(_onStarting[i].State).ConfigureAwait(false);
            }
        }

        HasStarted = true;
        _keepBody = await _sink.OnHeadersAsync(this).ConfigureAwait(false);
    }
}
