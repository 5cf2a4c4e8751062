namespace StampedeGuard.Internal;

/// <summary>One entry of a key's run into the batch factory: the key, the run's token, and the answer the run awaits.</summary>
/// <typeparam name="T">The value type.</typeparam>
internal sealed class BatchRequest<T>(string key, int index, CancellationToken token)
{
    private readonly TaskCompletionSource<T> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Gets the key.</summary>
    public string Key { get; } = key;

    /// <summary>Gets the key's place among the keys of the call.</summary>
    public int Index { get; } = index;

    /// <summary>Gets the token of the key's run (cancelled when nobody waits for the key any more, or on dispose).</summary>
    public CancellationToken Token { get; } = token;

    /// <summary>Gets or sets the key's run as marked computing when it entered, if it was (its mark goes on while the batch factory runs).</summary>
    public Flight? Run { get; set; }

    /// <summary>Gets the task the key's run awaits as its factory's result.</summary>
    public Task<T> Answer => _answer.Task;

    public void SetResult(T value) => _answer.TrySetResult(value);

    public void SetException(Exception error) => _answer.TrySetException(error);
}
