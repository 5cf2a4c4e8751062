namespace StampedeGuard.Internal;

/// <summary>
/// One key of a batch call: the state its per-key <c>GetOrCreateAsync</c> call carries. It is settled once for the
/// batch's first round: when the call is answered, waits for someone else's run, or enters its factory.
/// </summary>
/// <typeparam name="TState">The batch factory's state.</typeparam>
/// <typeparam name="T">The value type.</typeparam>
internal sealed class BatchSlot<TState, T>(BatchCollector<TState, T> collector, string key, int index) : IBatchKey
{
    private int _settled;

    public BatchCollector<TState, T> Collector { get; } = collector;

    public string Key { get; } = key;

    /// <summary>Gets the key's place among the keys of the call (the batch factory gets its keys in the caller's order).</summary>
    public int Index { get; } = index;

    /// <summary>The per-key factory: enters the key into the batch and awaits the batch factory's answer for it.</summary>
    public static readonly Func<BatchSlot<TState, T>, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> Factory =
        static (slot, _, cancellationToken) => new ValueTask<T>(slot.Collector.Enter(slot, cancellationToken));

    /// <inheritdoc />
    public void Waiting() => Settle();

    /// <summary>Settles the key for the first round (once; later calls do nothing).</summary>
    public void Settle()
    {
        if (Interlocked.Exchange(ref _settled, 1) == 0)
        {
            Collector.OneSettled(inline: false);
        }
    }
}
