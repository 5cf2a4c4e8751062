namespace StampedeGuard.Tests;

/// <summary>
/// <see cref="IStampedeCache.GetOrCreateManyAsync{T}"/> on an implementation other than <see cref="StampedeCache"/> (a
/// decorator, an application's own cache): the interface's default, one single-key call per key, gives the engine's
/// batch results and failures.
/// </summary>
public sealed class DefaultBatchTests
{
    [Fact]
    public async Task GetOrCreateManyAsync_OtherImplementation_OneCallPerKeyWithTheBatchSemantics()
    {
        using var engine = new StampedeCache(new StampedeCacheOptions());
        IStampedeCache cache = new Decorator(engine);
        var asked = new List<string>();

        var values = await cache.GetOrCreateManyAsync(["a", "b", "a", "c"], (missing, _) =>
        {
            lock (asked)
            {
                asked.AddRange(missing);
            }

            IReadOnlyDictionary<string, string> found = missing[0] == "c" ? new Dictionary<string, string>() : missing.ToDictionary(k => k, k => "v" + k);
            return ValueTask.FromResult(found);
        });

        values.Should().BeEquivalentTo(new Dictionary<string, string> { ["a"] = "va", ["b"] = "vb" }, "a key the factory did not return is absent");
        asked.Should().BeEquivalentTo(["a", "b", "c"], "duplicates are asked for once");
        (await engine.TryGetAsync<string>("b")).Value.Should().Be("vb");
        (await engine.TryGetAsync<string>("c")).HasValue.Should().BeFalse("nothing is stored for a key not returned");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_OtherImplementationOneKeyFails_ThrowsItsExceptionOnceTheOthersAreStored()
    {
        using var engine = new StampedeCache(new StampedeCacheOptions());
        IStampedeCache cache = new Decorator(engine);

        var call = () => cache.GetOrCreateManyAsync<string>(["ok", "bad"], (missing, _) =>
            missing[0] == "bad"
                ? throw new InvalidOperationException("origin failed for bad")
                : ValueTask.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string> { ["ok"] = "v" })).AsTask();

        await call.Should().ThrowAsync<InvalidOperationException>().WithMessage("origin failed for bad");
        (await engine.TryGetAsync<string>("ok")).Value.Should().Be("v", "the other keys' values are stored, so a retry computes only what failed");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_OtherImplementationInvalidKey_ArgumentExceptionNamingKeys()
    {
        using var engine = new StampedeCache(new StampedeCacheOptions());
        IStampedeCache cache = new Decorator(engine);

        var call = () => cache.GetOrCreateManyAsync<string>(["a", ""], (_, _) => throw new InvalidOperationException("not called")).AsTask();

        (await call.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("keys");
    }

    [Fact]
    public async Task GetOrCreateManyAsync_ThroughTheInterfaceOnTheEngine_OneFactoryCallForAllMissingKeys()
    {
        using var engine = new StampedeCache(new StampedeCacheOptions());
        IStampedeCache cache = engine;
        var calls = new List<IReadOnlyList<string>>();

        var values = await cache.GetOrCreateManyAsync(["a", "b", "c"], (missing, _) =>
        {
            calls.Add(missing);
            return ValueTask.FromResult<IReadOnlyDictionary<string, int>>(missing.ToDictionary(k => k, k => k[0] - 'a'));
        });

        values.Should().HaveCount(3);
        calls.Should().ContainSingle().Which.Should().Equal("a", "b", "c");
    }

    /// <summary>A decorator that forwards the single-key members and leaves the batch to the interface's default.</summary>
    private sealed class Decorator(IStampedeCache inner) : IStampedeCache
    {
        public ValueTask<T> GetOrCreateAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.GetOrCreateAsync(key, factory, options, cancellationToken);

        public ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, StampedeFactoryContext<T>, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.GetOrCreateAsync(key, state, factory, options, cancellationToken);

        public ValueTask<StampedeCacheLookup<T>> TryGetAsync<T>(string key, CancellationToken cancellationToken = default) => inner.TryGetAsync<T>(key, cancellationToken);

        public ValueTask<StampedeCacheLookup<T>> TryGetAsync<T>(string key, StampedeCacheEntryOptions? options, CancellationToken cancellationToken = default) => inner.TryGetAsync<T>(key, options, cancellationToken);

        public ValueTask SetAsync<T>(string key, T value, StampedeCacheEntryOptions? options = null, CancellationToken cancellationToken = default) => inner.SetAsync(key, value, options, cancellationToken);

        public ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => inner.RemoveAsync(key, cancellationToken);

        public ValueTask ExpireAsync(string key, CancellationToken cancellationToken = default) => inner.ExpireAsync(key, cancellationToken);

        public ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) => inner.RemoveByTagAsync(tag, cancellationToken);
    }
}
