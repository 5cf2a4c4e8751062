namespace StampedeGuard.TestSupport;

/// <summary>
/// Microsoft's <see cref="Microsoft.Extensions.Time.Testing.FakeTimeProvider"/> (time moves only when told; timers fire
/// during <c>Advance</c>), starting at 2026-01-01 UTC, plus <see cref="ActiveTimers"/> so a test can wait until the
/// code under test has registered the timer it is about to fire. Source-compatible with the earlier hand-written clock.
/// </summary>
public sealed class FakeTimeProvider : Microsoft.Extensions.Time.Testing.FakeTimeProvider
{
    private int _active;

    /// <summary>Creates a clock at 2026-01-01 00:00 UTC.</summary>
    public FakeTimeProvider()
        : this(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>Creates a clock at <paramref name="start"/>.</summary>
    /// <param name="start">The initial time.</param>
    public FakeTimeProvider(DateTimeOffset start)
        : base(start)
    {
    }

    /// <summary>Gets how many timers are armed (created or changed with a due time, not yet fired once-only, not disposed).</summary>
    public int ActiveTimers => Volatile.Read(ref _active);

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var tracked = new TrackedTimer(this, callback, state);
        tracked.Inner = base.CreateTimer(static s => ((TrackedTimer)s!).Fire(), tracked, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        tracked.Change(dueTime, period);
        return tracked;
    }

    private sealed class TrackedTimer(FakeTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private readonly object _sync = new();
        private bool _armed;
        private bool _periodic;
        private bool _disposed;

        public ITimer Inner { get; set; } = null!;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (_sync)
            {
                if (_disposed)
                {
                    return false;
                }

                SetArmed(dueTime != Timeout.InfiniteTimeSpan);
                _periodic = period != Timeout.InfiniteTimeSpan && period != TimeSpan.Zero;
            }

            return Inner.Change(dueTime, period);
        }

        public void Fire()
        {
            lock (_sync)
            {
                if (!_periodic)
                {
                    SetArmed(false);
                }
            }

            callback(state);
        }

        public void Dispose()
        {
            lock (_sync)
            {
                SetArmed(false);
                _disposed = true;
            }

            Inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        private void SetArmed(bool armed)
        {
            if (armed != _armed)
            {
                _armed = armed;
                Interlocked.Add(ref owner._active, armed ? 1 : -1);
            }
        }
    }
}
