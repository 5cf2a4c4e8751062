namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// The engine the response cache stores through: the app's <see cref="IStampedeCache"/> when one is registered (in
/// any order with <c>AddStampedeGuard</c>), otherwise a private in-memory one.
/// </summary>
internal sealed class ResponseCacheEngine(IStampedeCache cache, bool owned) : IDisposable
{
    public IStampedeCache Cache { get; } = cache;

    public void Dispose()
    {
        if (owned && Cache is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}
