namespace StampedeGuard.Redis.Internal;

/// <summary>
/// Who in this process waits on which lock (by Redis lock key), and what the channel said about it. A notification
/// bumps a global sequence and records it on the key's slot, so a waiter can tell whether anything arrived since a
/// point it chose (before its read was sent): a message that lands between a read and the wait is never missed.
/// </summary>
internal sealed class WaitRegistry(TimeProvider timeProvider)
{
    private readonly Dictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private long _sequence;
    private int _enters;

    /// <summary>Gets the sequence number of the last notification received.</summary>
    public long Sequence => Interlocked.Read(ref _sequence);

    public int Count
    {
        get
        {
            lock (_slots)
            {
                return _slots.Count;
            }
        }
    }

    public Slot Enter(string key)
    {
        lock (_slots)
        {
            if ((++_enters & 63) == 0 && _slots.Count > 256)
            {
                SweepAbandonedHints();
            }

            if (!_slots.TryGetValue(key, out var slot))
            {
                slot = new Slot(key);
                _slots.Add(key, slot);
            }

            slot.References++;
            return slot;
        }
    }

    public void Exit(Slot slot)
    {
        lock (_slots)
        {
            ReleaseReference(slot);
        }
    }

    /// <summary>
    /// Keeps the slot of a read that found the lock held, so the wait that usually follows sees notifications that
    /// arrived in between. The caller's reference passes to the hint; an abandoned hint is swept after it expires.
    /// </summary>
    public void KeepHint(Slot slot, long sequenceBefore, TimeSpan holdFor)
    {
        lock (_slots)
        {
            if (slot.HintSequence >= 0)
            {
                ReleaseReference(slot);
            }

            slot.HintSequence = sequenceBefore;
            slot.HintLockExpires = timeProvider.GetTimestamp() + (long)(holdFor.TotalSeconds * timeProvider.TimestampFrequency);
            slot.HintExpires = slot.HintLockExpires + timeProvider.TimestampFrequency;
        }
    }

    /// <summary>
    /// Takes the hint of the read before this wait, if any: the sequence the wait must compare against, and the
    /// timestamp at which the lock that read saw would expire (long.MaxValue when unknown).
    /// </summary>
    public long TakeHint(Slot slot, long otherwise, out long lockExpires)
    {
        lock (_slots)
        {
            lockExpires = long.MaxValue;
            if (slot.HintSequence < 0)
            {
                return otherwise;
            }

            lockExpires = slot.HintLockExpires;
            var sequence = slot.HintSequence;
            slot.HintSequence = -1;
            ReleaseReference(slot);
            return sequence;
        }
    }

    /// <summary>Whether a notification arrived after <paramref name="baseline"/>; otherwise the task to await for the next.</summary>
    public bool Check(Slot slot, long baseline, out byte[]? envelope, out long version, out Task next)
    {
        lock (_slots)
        {
            envelope = slot.Envelope;
            version = slot.Version;
            next = slot.Signal.Task;
            return slot.LastSequence > baseline;
        }
    }

    public void Notify(string key, byte[]? envelope, long version = 0)
    {
        TaskCompletionSource? signal = null;
        var sequence = Interlocked.Increment(ref _sequence);
        lock (_slots)
        {
            if (_slots.TryGetValue(key, out var slot))
            {
                signal = slot.Fire(sequence, envelope, version);
            }
        }

        signal?.TrySetResult();
    }

    /// <summary>Messages may have been lost (reconnect): wake every waiter to re-check the store.</summary>
    public void NotifyAll()
    {
        List<TaskCompletionSource> signals = [];
        var sequence = Interlocked.Increment(ref _sequence);
        lock (_slots)
        {
            foreach (var slot in _slots.Values)
            {
                signals.Add(slot.Fire(sequence, null));
            }
        }

        foreach (var signal in signals)
        {
            signal.TrySetResult();
        }
    }

    private void ReleaseReference(Slot slot)
    {
        if (--slot.References == 0)
        {
            _slots.Remove(slot.Key);
        }
    }

    private void SweepAbandonedHints()
    {
        var now = timeProvider.GetTimestamp();
        List<Slot>? expired = null;
        foreach (var slot in _slots.Values)
        {
            if (slot.HintSequence >= 0 && slot.HintExpires < now)
            {
                (expired ??= []).Add(slot);
            }
        }

        foreach (var slot in expired ?? [])
        {
            slot.HintSequence = -1;
            ReleaseReference(slot);
        }
    }

    internal sealed class Slot(string key)
    {
        public string Key { get; } = key;

        public int References { get; set; }

        public long LastSequence { get; private set; }

        public byte[]? Envelope { get; private set; }

        public long Version { get; private set; }

        public TaskCompletionSource Signal { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long HintSequence { get; set; } = -1;

        public long HintExpires { get; set; }

        public long HintLockExpires { get; set; }

        public TaskCompletionSource Fire(long sequence, byte[]? envelope, long version = 0)
        {
            LastSequence = sequence;
            Envelope = envelope;
            Version = version;
            var signal = Signal;
            Signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return signal;
        }
    }
}
