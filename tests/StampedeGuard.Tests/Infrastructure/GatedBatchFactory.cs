namespace StampedeGuard.Tests.Infrastructure;

/// <summary>
/// A batch factory the test controls: records each call's keys and token, and answers when the test opens the gate
/// (with a value per key computed by <c>valueOf</c>, leaving out the keys the test names) or fails it.
/// </summary>
internal sealed class GatedBatchFactory(Func<string, string>? valueOf = null)
{
    private readonly Lock _sync = new();
    private readonly List<(IReadOnlyList<string> Keys, CancellationToken Token)> _calls = [];
    private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<string> _omitted = new(StringComparer.Ordinal);
    private Exception? _failure;

    public int Calls
    {
        get
        {
            lock (_sync)
            {
                return _calls.Count;
            }
        }
    }

    public IReadOnlyList<(IReadOnlyList<string> Keys, CancellationToken Token)> Received
    {
        get
        {
            lock (_sync)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>The keys of every call, in order.</summary>
    public IReadOnlyList<string> AllKeys => [.. Received.SelectMany(c => c.Keys)];

    public async ValueTask<IReadOnlyDictionary<string, string>> InvokeAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            _calls.Add(([.. keys], cancellationToken));
        }

        await _gate.Task.ConfigureAwait(false);
        if (_failure is not null)
        {
            throw _failure;
        }

        return keys.Where(k => !_omitted.Contains(k)).ToDictionary(k => k, valueOf ?? (k => "batch:" + k), StringComparer.Ordinal);
    }

    /// <summary>Answers every call, now and later, leaving out <paramref name="omit"/>.</summary>
    public void Release(params string[] omit)
    {
        _omitted.UnionWith(omit);
        _gate.TrySetResult();
    }

    /// <summary>Fails every call, now and later, with <paramref name="error"/>.</summary>
    public void Fail(Exception error)
    {
        _failure = error;
        _gate.TrySetResult();
    }
}
