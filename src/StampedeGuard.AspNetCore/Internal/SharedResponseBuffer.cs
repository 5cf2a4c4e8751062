namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// The body of one in-flight origin response, shared by every client attached to the flight. The origin appends at
/// its own speed; each reader (the leader's client and every collapsed waiter) reads from its own position with its
/// own cancellation, so a slow client slows nobody. Memory is bounded: while the body may be stored it is kept whole
/// (at most the window, which is the maximum cacheable body); once it may not, chunks every reader has passed are
/// dropped and, if the slowest reader falls a whole window behind, the origin waits for it (like a proxy buffer).
/// </summary>
internal sealed class SharedResponseBuffer(long window)
{
    private const int ChunkSize = 16 * 1024;

    private readonly object _gate = new();
    private readonly List<byte[]> _chunks = [];
    private readonly List<BufferReader> _readers = [];
    private long _base;
    private long _length;
    private bool _completed;
    private bool _trimmingAllowed;
    private Exception? _fault;
    private TaskCompletionSource _data = NewSignal();
    private TaskCompletionSource? _space;

    public long Length
    {
        get
        {
            lock (_gate)
            {
                return _length;
            }
        }
    }

    /// <summary>Gets whether part of the body was dropped (it can no longer be stored or given to a new reader).</summary>
    public bool IsTrimmed
    {
        get
        {
            lock (_gate)
            {
                return _base > 0;
            }
        }
    }

    /// <summary>Attaches a reader at offset zero; null when the start of the body was already dropped.</summary>
    public BufferReader? Attach()
    {
        lock (_gate)
        {
            if (_base > 0)
            {
                return null;
            }

            var reader = new BufferReader();
            _readers.Add(reader);
            return reader;
        }
    }

    public void Detach(BufferReader reader)
    {
        TaskCompletionSource? space;
        lock (_gate)
        {
            if (reader.Detached)
            {
                return;
            }

            reader.Detached = true;
            _readers.Remove(reader);
            space = TakeSpaceSignalIfRoom();
        }

        space?.TrySetResult();
    }

    /// <summary>Lets the buffer drop what every reader has consumed: called when the body will not be stored.</summary>
    public void AllowTrimming()
    {
        lock (_gate)
        {
            _trimmingAllowed = true;
            Trim();
        }
    }

    public async ValueTask AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            TaskCompletionSource signal;
            Task? wait = null;
            lock (_gate)
            {
                if (_completed)
                {
                    throw new InvalidOperationException("The response body is complete.");
                }

                var offsetInLast = (int)((_length - _base) % ChunkSize);
                if (offsetInLast == 0)
                {
                    _chunks.Add(new byte[ChunkSize]);
                }

                var count = Math.Min(ChunkSize - offsetInLast, data.Length);
                data.Span[..count].CopyTo(_chunks[^1].AsSpan(offsetInLast));
                _length += count;
                data = data[count..];
                signal = _data;
                _data = NewSignal();
                if (_trimmingAllowed)
                {
                    Trim();
                    if (_readers.Count > 0 && _length - MinPosition() > window)
                    {
                        _space ??= NewSignal();
                        wait = _space.Task;
                    }
                }
            }

            signal.TrySetResult();
            if (wait is not null)
            {
                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void Complete(Exception? fault)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _fault = fault;
            signal = _data;
        }

        signal.TrySetResult();
    }

    public async ValueTask<BufferRead> ReadAsync(BufferReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                var position = reader.Position;
                if (position < _length)
                {
                    var relative = position - _base;
                    var chunk = _chunks[(int)(relative / ChunkSize)];
                    var offset = (int)(relative % ChunkSize);
                    var count = (int)Math.Min(ChunkSize - offset, _length - position);
                    return new BufferRead(chunk.AsMemory(offset, count), false, null);
                }

                if (_completed)
                {
                    return new BufferRead(default, _fault is null, _fault);
                }

                wait = _data.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Marks <paramref name="count"/> bytes as consumed by <paramref name="reader"/>.</summary>
    public void Advance(BufferReader reader, int count)
    {
        TaskCompletionSource? space;
        lock (_gate)
        {
            reader.Position += count;
            space = TakeSpaceSignalIfRoom();
        }

        space?.TrySetResult();
    }

    /// <summary>Returns the whole body when it is complete, without fault, and nothing was dropped.</summary>
    public byte[]? ToArray()
    {
        lock (_gate)
        {
            if (!_completed || _fault is not null || _base > 0)
            {
                return null;
            }

            var result = new byte[_length];
            var copied = 0L;
            foreach (var chunk in _chunks)
            {
                var count = (int)Math.Min(ChunkSize, _length - copied);
                if (count <= 0)
                {
                    break;
                }

                chunk.AsSpan(0, count).CopyTo(result.AsSpan((int)copied));
                copied += count;
            }

            return result;
        }
    }

    private long MinPosition()
    {
        var min = _length;
        foreach (var reader in _readers)
        {
            if (reader.Position < min)
            {
                min = reader.Position;
            }
        }

        return min;
    }

    private void Trim()
    {
        if (!_trimmingAllowed)
        {
            return;
        }

        var min = MinPosition();
        while (_chunks.Count > 1 && _base + ChunkSize <= min)
        {
            _chunks.RemoveAt(0);
            _base += ChunkSize;
        }
    }

    private TaskCompletionSource? TakeSpaceSignalIfRoom()
    {
        if (_space is null)
        {
            return null;
        }

        Trim();
        if (_readers.Count > 0 && _length - MinPosition() > window)
        {
            return null;
        }

        var space = _space;
        _space = null;
        return space;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
