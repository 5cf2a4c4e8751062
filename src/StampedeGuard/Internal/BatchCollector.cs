namespace StampedeGuard.Internal;

/// <summary>
/// Collects the keys of one batch call whose runs this call leads and calls the batch factory once for them, in the caller's order.
/// </summary>
/// <remarks>
/// Each key of the batch that L1 did not answer goes through the ordinary single-key pipeline with
/// <see cref="BatchSlot{TState, T}.Factory"/> as its factory, so single-flight, the barrier, fencing, invalidation and
/// failures stay per key. The first round waits until every key is settled (answered, waiting for someone else's run,
/// or entered here), then calls the batch factory once with the keys that entered. A key that enters later (it
/// waited for another node whose run ended without a value, a background refresh after a stale answer, a LockTimeout
/// replacement run) is collected with whatever else enters meanwhile and handed to the factory on the thread pool.
/// </remarks>
/// <typeparam name="TState">The batch factory's state.</typeparam>
/// <typeparam name="T">The value type.</typeparam>
internal sealed class BatchCollector<TState, T>(object cache, TState state, Func<TState, IReadOnlyList<string>, CancellationToken, ValueTask<IReadOnlyDictionary<string, T>>> factory)
{
    private readonly Lock _sync = new();
    private readonly ExecutionContext? _context = ExecutionContext.Capture();
    private List<BatchRequest<T>> _entered = [];
    private int _unsettled = 1; // every slot, plus one for the call until it has started every key
    private bool _firstRoundGone;
    private bool _lateRoundQueued;

    /// <summary>A slot for a key the first round waits for.</summary>
    public BatchSlot<TState, T> NewSlot(string key, int index)
    {
        lock (_sync)
        {
            _unsettled++;
        }

        return new BatchSlot<TState, T>(this, key, index);
    }

    /// <summary>Every key has been started: the first round may go once they are all settled (inline if this is the last).</summary>
    public void Started() => OneSettled(inline: true);

    /// <summary>A key's run enters its factory: it is collected into the next round; returns the answer it awaits.</summary>
    public Task<T> Enter(BatchSlot<TState, T> slot, CancellationToken cancellationToken)
    {
        var request = new BatchRequest<T>(slot.Key, slot.Index, cancellationToken);
        if (ComputingKey.Innermost is { } run && ReferenceEquals(run.ComputingCache, cache) && string.Equals(run.ComputingFor, slot.Key, StringComparison.Ordinal))
        {
            request.Run = run; // the pipeline marked this key's run as computed by this flow: the batch factory keeps the mark
        }

        bool late, queue = false;
        lock (_sync)
        {
            _entered.Add(request);
            late = _firstRoundGone;
            if (late && !_lateRoundQueued)
            {
                _lateRoundQueued = queue = true;
            }
        }

        if (!late)
        {
            slot.Settle();
        }
        else if (queue)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static collector => collector.RunLateRound(), this, preferLocal: false);
        }

        return request.Answer;
    }

    /// <summary>A key settled for the first round: the last one sends the round.</summary>
    public void OneSettled(bool inline)
    {
        List<BatchRequest<T>> round;
        lock (_sync)
        {
            if (--_unsettled != 0)
            {
                return;
            }

            (round, _entered) = (_entered, []);
            _firstRoundGone = true;
        }

        if (round.Count == 0)
        {
            return;
        }

        if (inline)
        {
            _ = RunRoundAsync(round); // the batch call's own thread and context: the factory starts here, as a single call's does
        }
        else
        {
            // The last key settled inside the pipeline (or a continuation of it): the factory gets the caller's context on the thread pool.
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Collector.RunInCallersContext(s.Round), (Collector: this, Round: round), preferLocal: false);
        }
    }

    private void RunLateRound()
    {
        List<BatchRequest<T>> round;
        lock (_sync)
        {
            (round, _entered) = (_entered, []);
            _lateRoundQueued = false;
        }

        if (round.Count > 0)
        {
            RunInCallersContext(round);
        }
    }

    private void RunInCallersContext(List<BatchRequest<T>> round)
    {
        if (_context is null)
        {
            _ = RunRoundAsync(round);
        }
        else
        {
            ExecutionContext.Run(
                _context,
                static s =>
                {
                    var (collector, round) = ((BatchCollector<TState, T>, List<BatchRequest<T>>))s!;
                    _ = collector.RunRoundAsync(round);
                },
                (this, round));
        }
    }

    /// <summary>One call of the batch factory for the keys of a round; every key gets its value or its failure. Never throws.</summary>
    private async Task RunRoundAsync(List<BatchRequest<T>> round)
    {
        round.Sort(static (x, y) => x.Index.CompareTo(y.Index)); // in the caller's order, whatever order the keys entered
        var keys = new List<string>(round.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var request in round)
        {
            if (seen.Add(request.Key))
            {
                keys.Add(request.Key);
            }
        }

        using var cancellation = new RoundCancellation(round);
        foreach (var request in round)
        {
            if (request.Run is { } run)
            {
                // The batch factory computes these keys: one that asks the cache for one of them gets the re-entrancy
                // error at once instead of waiting for itself (as a single-key factory does). The marks live in this
                // method's flow only.
                ComputingKey.Enter(run, cache, request.Key);
            }
        }

        try
        {
            var values = await factory(state, keys, cancellation.Token).ConfigureAwait(false)
                ?? throw new InvalidOperationException("The batch factory returned null instead of a dictionary.");
            foreach (var request in round)
            {
                if (values.TryGetValue(request.Key, out var value))
                {
                    request.SetResult(value);
                }
                else
                {
                    request.SetException(new BatchKeyNotReturnedException(request.Key));
                }
            }
        }
        catch (Exception ex)
        {
            foreach (var request in round)
            {
                request.SetException(ex);
            }
        }
    }

    /// <summary>The batch factory's token: cancelled once every key's run of the round is cancelled (nobody wants any of them).</summary>
    private sealed class RoundCancellation : IDisposable
    {
        private readonly CancellationTokenSource _source = new();
        private readonly CancellationTokenRegistration[] _registrations;
        private int _remaining;

        public RoundCancellation(List<BatchRequest<T>> round)
        {
            _registrations = new CancellationTokenRegistration[round.Count];
            _remaining = round.Count;
            foreach (var request in round)
            {
                if (!request.Token.CanBeCanceled)
                {
                    return; // one run nobody can cancel: the round is never cancelled
                }
            }

            for (var i = 0; i < round.Count; i++)
            {
                _registrations[i] = round[i].Token.UnsafeRegister(static s => ((RoundCancellation)s!).OneGone(), this);
            }
        }

        public CancellationToken Token => _source.Token;

        public void Dispose()
        {
            foreach (var registration in _registrations)
            {
                registration.Dispose();
            }

            _source.Dispose();
        }

        private void OneGone()
        {
            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                try
                {
                    _source.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // the round ended meanwhile
                }
            }
        }
    }
}
