namespace StampedeGuard.Internal;

/// <summary>
/// A key of a batch call (<c>GetOrCreateManyAsync</c>) as the single-key pipeline sees it: the state of its per-key
/// call. The pipeline tells it when the call waits for a run that is not its own (another caller's flight in this
/// process, or another node's barrier), so the batch calls its factory without waiting for that key.
/// </summary>
internal interface IBatchKey
{
    /// <summary>The call waits for someone else's run; it calls its factory only if that run fails to answer it.</summary>
    void Waiting();
}
