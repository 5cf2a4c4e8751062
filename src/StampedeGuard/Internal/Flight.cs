using System.Diagnostics.Metrics;
using StampedeGuard.Shared;
using System.Threading.Tasks.Sources;

namespace StampedeGuard.Internal;

/// <summary>One run of a key's factory and everyone waiting for it (single-flight).</summary>
internal abstract class Flight(CancellationToken cancelledOnlyOnDispose) : FlightCore(cancelledOnlyOnDispose)
{
    /// <summary>Gets the cache whose factory this run is running (set when the factory starts; see <see cref="ComputingKey"/>).</summary>
    public object? ComputingCache { get; private set; }

    /// <summary>Gets the key this run's factory computes (set when the factory starts).</summary>
    public string? ComputingFor { get; private set; }

    /// <summary>Gets the run whose factory was running on the same flow when this one's started, if any.</summary>
    public Flight? ComputingParent { get; private set; }

    /// <summary>Marks this run's factory as running on the current flow, inside <paramref name="parent"/>'s (if any).</summary>
    public void MarkComputing(object cache, string key, Flight? parent)
    {
        ComputingCache = cache;
        ComputingFor = key;
        ComputingParent = parent;
    }

    /// <summary>Ends every wait with <paramref name="error"/> and cancels the factory's token (dispose).</summary>
    public abstract void Abort(Exception error);

    /// <summary>Gets when the flight was created (engine time ticks).</summary>
    public long StartedAt { get; init; }

    /// <summary>
    /// Gets the local tier's generation when the flight was created: if the tier is cleared while it runs (messages may
    /// have been lost), what it read may be older than what the clear dropped, so it keeps nothing in L1.
    /// </summary>
    public long LocalGeneration { get; init; }

    /// <summary>
    /// Gets or sets the distributed lease this run holds. A fenced write consumes it (the store releases it with the
    /// write); whatever is still held when the run ends is released then. One owner, one place.
    /// </summary>
    public StampedeLease? Lease { get => Volatile.Read(ref _lease); set => Volatile.Write(ref _lease, value); }

    private StampedeLease? _lease;

    private Func<StampedeLease, ValueTask>? _release;

    /// <summary>Takes the lease this run holds, if any, so exactly one caller releases it.</summary>
    public StampedeLease? TakeLease() => Interlocked.Exchange(ref _lease, null);

    /// <summary>
    /// Holds <paramref name="lease"/> (the key's barrier, taken by the run's read), to be released with
    /// <paramref name="release"/> (<see cref="ReleaseLeaseAsync"/>). If the run is superseded, that happens as soon as
    /// no store of the run is under way: nothing will be stored under it, and the next run (here or on another node)
    /// need not wait for this one to end.
    /// </summary>
    public void HoldLease(StampedeLease lease, Func<StampedeLease, ValueTask> release)
    {
        _release = release;
        Lease = lease;
        if (IsChanged)
        {
            _ = ReleaseLeaseAsync().AsTask(); // superseded while it read
        }
    }

    /// <summary>
    /// Releases the lease the run still holds, if any (exactly once, whoever asks: the run's end, a supersede, the write
    /// condition holding it). A lease past its deadline (a pause outlasted it) is lost, not released: asking says so (its
    /// LeaseLost token fires for the factory), and there is nothing left to release.
    /// </summary>
    /// <returns>A task that completes when the release was answered (or failed, logged).</returns>
    public ValueTask ReleaseLeaseAsync() =>
        _release is { } release && TakeLease() is { } lease && !lease.LeaseLost.IsCancellationRequested ? release(lease) : default;

    /// <inheritdoc />
    protected override void OnSettled() => _ = ReleaseLeaseAsync().AsTask();

    /// <summary>Gets or sets whether the run read the distributed tier successfully (its value may then be written there, conditionally).</summary>
    public bool ReadDistributed { get; set; }

    /// <summary>Gets or sets the key's version at the run's last distributed read: its write is conditional on it.</summary>
    public long ReadVersion { get; set; }

    /// <summary>Gets or sets the store's clock at that read (the run's origin on the clock invalidations are ordered by), or 0.</summary>
    public long ReadStamp { get; set; }

    /// <summary>Gets the tags the run started with (a RemoveByTagAsync of one of them supersedes it).</summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <inheritdoc />
    public override bool HasTag(string tag) => Tags?.Contains(tag, StringComparer.Ordinal) == true;

    /// <summary>
    /// The join times of the callers waiting on the shared answer while the wait histogram is listened to: timing a
    /// wait costs a slot here, not a task and state machine per caller. The answer's time is taken when the run
    /// answers; the records are made on the thread pool after that, behind the waiters' resumptions, so a metrics SDK's
    /// per-record cost (bucket search, aggregation) does not delay the callers it measures.
    /// </summary>
    protected sealed class WaitTimes(TaggedHistogram histogram, TimeProvider time) : IThreadPoolWorkItem
    {
        private long[] _started = new long[4];
        private int _count;
        private long _answeredAt;

        /// <summary>Adds a caller that joined at <paramref name="started"/> (under the flight's lock).</summary>
        public void Add(long started)
        {
            if (_count == _started.Length)
            {
                Array.Resize(ref _started, _count * 2);
            }

            _started[_count++] = started;
        }

        /// <summary>Takes the answer's time now and records every caller's wait up to it soon, on the thread pool.</summary>
        public void RecordFromNow()
        {
            _answeredAt = time.GetTimestamp();
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }

        void IThreadPoolWorkItem.Execute()
        {
            try
            {
                for (var i = 0; i < _count; i++)
                {
                    histogram.Record(time.GetElapsedTime(_started[i], _answeredAt).TotalSeconds);
                }
            }
            catch (Exception)
            {
                // A listener's callback threw: on a thread-pool work item that would end the process. Metrics never may.
            }
        }
    }
}

/// <summary>
/// A typed flight. Callers join and leave; the factory runs on <see cref="FlightCore.Token"/>, which the flight owns and
/// cancels only when every waiter has cancelled (or on a hard timeout), never because one caller went away.
/// A run that nothing but disposal can cancel uses the cache's disposal token instead of a token source of its own,
/// and the answer's task exists only once someone waits for it: a miss nobody joins allocates neither.
/// </summary>
/// <typeparam name="T">The value type.</typeparam>
internal sealed class Flight<T> : Flight, IValueTaskSource<T>
{
    private const int Pending = 0;
    private const int HasValue = 1;
    private const int HasError = 2;
    private readonly bool _background;
    private TaskCompletionSource<T>? _answer;
    private volatile int _state;
    private T _value = default!;
    private Exception? _error;
    private volatile ITimer? _takeover;
    private WaitTimes? _waitTimes;

    // The leader's own wait (one consumer, no task): completed with the answer, its continuation runs where the run
    // answers (no thread-pool hop). A mutable struct: used in place, never copied.
    private ManualResetValueTaskSourceCore<T> _leader;

    /// <summary>Creates a flight.</summary>
    /// <param name="stale">The previous value, if any.</param>
    /// <param name="background">Whether this is a refresh nobody waits for.</param>
    /// <param name="cancelledOnlyOnDispose">
    /// The cache's disposal token when nothing else can cancel this run (no caller can cancel, no timeout bounds it):
    /// its factory gets that token and the flight needs no token source. Default: the flight's own.
    /// </param>
    public Flight(CacheEntry<T>? stale, bool background, CancellationToken cancelledOnlyOnDispose = default)
        : base(cancelledOnlyOnDispose)
    {
        Stale = stale;
        _background = background;
    }

    public override bool IsBackground => _background;

    /// <summary>The previous value, for fail-safe, soft timeouts and the factory's context.</summary>
    public CacheEntry<T>? Stale { get; set; }

    /// <summary>Gets whether the run has answered (a value or a failure).</summary>
    public override bool IsAnswered => _state != Pending;

    /// <summary>Gets the run's one answer as a task (made the first time someone waits; completed at once after the answer).</summary>
    public Task<T> Answer
    {
        get
        {
            if (Volatile.Read(ref _answer) is { } made)
            {
                return made.Task;
            }

            lock (Sync)
            {
                if (_answer is null)
                {
                    var answer = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
                    if (_state == HasValue)
                    {
                        answer.SetResult(_value);
                    }
                    else if (_state == HasError)
                    {
                        answer.SetException(_error!);
                        _ = answer.Task.Exception; // observed: the failure is reported where it is awaited
                    }

                    Volatile.Write(ref _answer, answer);
                }

                return _answer.Task;
            }
        }
    }

    /// <summary>
    /// The leader's wait for this run's answer when it has nothing of its own to bound: no task is made for it, and
    /// it resumes on the thread that answers (the run's own, after its store). Awaited once, by the leader only.
    /// </summary>
    public ValueTask<T> LeaderAnswer => new(this, _leader.Version);

    /// <summary>The answer of a run that has answered, without a task: the value, or the failure to throw.</summary>
    public ValueTask<T> AnsweredValue() => _state == HasValue ? new ValueTask<T>(_value) : ValueTask.FromException<T>(_error!);

    /// <summary>
    /// Times a caller that waits on the shared answer (or <see cref="LeaderAnswer"/>): its wait, from
    /// <paramref name="started"/> to the answer, is recorded when the run answers. False when the run has answered
    /// already (the caller records its own, near-zero wait).
    /// </summary>
    public bool TimeWait(long started, TaggedHistogram histogram, TimeProvider time)
    {
        lock (Sync)
        {
            if (_state != Pending)
            {
                return false;
            }

            (_waitTimes ??= new WaitTimes(histogram, time)).Add(started);
            return true;
        }
    }

    /// <summary>The entry whose refresh claim this background run holds (released if the run fails).</summary>
    public CacheEntry? Claimed { get; init; }

    /// <summary>
    /// Gets whether the LockTimeout timer is armed already (or the run answered): later waiters need not build the
    /// takeover callback. A stale read only costs that waiter the callback; <see cref="ArmTakeover"/> decides under the lock.
    /// </summary>
    public bool IsTakeoverArmed => _takeover is not null || IsAnswered;

    /// <summary>Arms the run's one LockTimeout timer (the first waiter behind it does; later calls do nothing).</summary>
    public void ArmTakeover(TimeProvider time, TimeSpan lockTimeout, Action takeOver)
    {
        lock (Sync)
        {
            if (_takeover is not null || IsAnswered)
            {
                return;
            }

            _takeover = time.CreateTimer(static state => ((Action)state!)(), takeOver, lockTimeout, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Answers this flight's waiters with <paramref name="replacement"/>'s answer too (first answer wins).</summary>
    public void AnswerFrom(Flight<T> replacement) =>
        replacement.Answer.ContinueWith(
            static (task, state) =>
            {
                var flight = (Flight<T>)state!;
                if (task.IsCompletedSuccessfully)
                {
                    flight.TrySetResult(task.Result);
                }
                else
                {
                    flight.SetException(task.Exception!.InnerException ?? task.Exception);
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    /// <summary>Stops the LockTimeout timer (the run answered).</summary>
    /// <remarks>
    /// No lock: the answer is set under the lock before this runs, and <see cref="ArmTakeover"/> arms only under the
    /// lock and only while there is no answer, so a timer armed at all is visible here.
    /// </remarks>
    private void DisarmTakeover() => _takeover?.Dispose();

    public override void Abort(Exception error)
    {
        SetException(error);
        CancelRun();
    }

    public bool TrySetResult(T value)
    {
        TaskCompletionSource<T>? answer;
        lock (Sync)
        {
            if (_state != Pending)
            {
                return false;
            }

            _value = value;
            _state = HasValue;
            answer = _answer;
        }

        answer?.TrySetResult(value);
        DisarmTakeover();
        _waitTimes?.RecordFromNow(); // no caller is added once answered
        _leader.SetResult(value); // last: the leader may resume right here
        return true;
    }

    public void SetException(Exception exception)
    {
        TaskCompletionSource<T>? answer;
        lock (Sync)
        {
            if (_state != Pending)
            {
                return;
            }

            _error = exception;
            _state = HasError;
            answer = _answer;
        }

        if (answer is not null && answer.TrySetException(exception))
        {
            // Observed on purpose: a background run may have no waiter, and that is not an unobserved fault.
            _ = answer.Task.Exception;
        }

        DisarmTakeover();
        _waitTimes?.RecordFromNow();
        _leader.SetException(exception); // last: the leader may resume right here
    }

    T IValueTaskSource<T>.GetResult(short token) =>
        _leader.GetStatus(token) == ValueTaskSourceStatus.Pending
            ? Answer.GetAwaiter().GetResult() // a caller blocking on the ValueTask (sync over async): it waits, as on a task
            : _leader.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<T>.GetStatus(short token) => _leader.GetStatus(token);

    void IValueTaskSource<T>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _leader.OnCompleted(continuation, state, token, flags);
}
