namespace StampedeGuard.Internal;

/// <summary>
/// The failure of a key that a batch factory did not return: the key's run ends without a value (nothing is stored,
/// single-key callers who joined that run get this exception) and the key is left out of the batch's result.
/// </summary>
internal sealed class BatchKeyNotReturnedException(string key)
    : KeyNotFoundException($"The batch factory did not return a value for key '{key}'.")
{
    /// <summary>Gets the key.</summary>
    public string Key { get; } = key;
}
