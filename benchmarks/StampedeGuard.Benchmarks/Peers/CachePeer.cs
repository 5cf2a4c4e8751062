namespace StampedeGuard.Benchmarks.Peers;

/// <summary>
/// One library behind the same four calls, each written the way that library's docs recommend. Benchmarks that time
/// a single hit call the sealed subclasses directly (no virtual call in the measured path); the runners go through
/// this base class, which costs every library the same.
/// </summary>
public abstract class CachePeer : IDisposable
{
    /// <summary>How long every entry lives: far beyond any run, so nothing expires while measured.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    protected CachePeer(Page value) => Value = value;

    /// <summary>The name in tables.</summary>
    public virtual string Name => Names[Index];

    /// <summary>This library's place in <see cref="Names"/>.</summary>
    protected abstract int Index { get; }

    /// <summary>The value every factory returns (one shared instance, so only the library's own bytes are measured).</summary>
    protected Page Value { get; }

    /// <summary>A cached key: the library's get-or-create call, which must complete synchronously.</summary>
    public abstract Page Hit(string key);

    /// <summary>Get-or-create with a factory that completes synchronously.</summary>
    public abstract ValueTask<Page> GetOrCreateAsync(string key);

    /// <summary>Get-or-create with a factory that really goes asynchronous (<see cref="Task.Yield"/>).</summary>
    public abstract ValueTask<Page> GetOrCreateYieldingAsync(string key);

    /// <summary>Get-or-create whose factory waits for <paramref name="gate"/>.</summary>
    public abstract ValueTask<Page> GetOrCreateGatedAsync(string key, Gate gate);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the library's cache.</summary>
    protected abstract void Dispose(bool disposing);

    /// <summary>The names of the four libraries, in the order of <see cref="Create"/>, baseline first.</summary>
    public static readonly string[] Names = ["IMemoryCache", "HybridCache", "FusionCache", "StampedeGuard"];

    /// <summary>A fresh cache of library <paramref name="index"/> (see <see cref="Names"/>).</summary>
    public static CachePeer Create(int index, Page value) => index switch
    {
        0 => new MemoryCachePeer(value),
        1 => new HybridCachePeer(value),
        2 => new FusionCachePeer(value),
        3 => new StampedeGuardPeer(value),
        _ => throw new ArgumentOutOfRangeException(nameof(index), index, "There are four libraries."),
    };

    /// <summary>The four libraries, baseline first.</summary>
    public static CachePeer[] CreateAll(Page value) => [.. Enumerable.Range(0, Names.Length).Select(i => Create(i, value))];

    /// <summary>Throws unless <paramref name="task"/> completed synchronously and successfully.</summary>
    protected static Page Synchronous(ValueTask<Page> task) =>
        task.IsCompletedSuccessfully ? task.Result : throw new InvalidOperationException("A hit did not complete synchronously.");
}
