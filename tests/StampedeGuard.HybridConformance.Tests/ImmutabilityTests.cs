using System.ComponentModel;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's TypeTests, observed: a cached value of an immutable type (string, sealed and [ImmutableObject(true)]) is
/// the same instance for every caller; any other reference type is a fresh copy per caller, so one caller's mutation
/// never reaches another.
/// </summary>
public sealed class ImmutabilityTests
{
    [Theory]
    [Both]
    public async Task GetOrCreateAsync_SealedImmutableClass_SameInstance(Implementation implementation) =>
        (await Twice(implementation, () => new ImmutableSealed("v"))).Should().BeTrue();

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_String_SameInstance(Implementation implementation) =>
        (await Twice(implementation, () => new string('v', 2))).Should().BeTrue();

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ClassWithoutAttribute_Copy(Implementation implementation) =>
        (await Twice(implementation, () => new MutablePoco { Value = "v" })).Should().BeFalse();

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ClassMarkedMutable_Copy(Implementation implementation) =>
        (await Twice(implementation, () => new MarkedMutable { Value = "v" })).Should().BeFalse();

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_UnsealedClassMarkedImmutable_Copy(Implementation implementation) =>
        (await Twice(implementation, () => new UnsealedImmutable { Value = "v" })).Should().BeFalse("a subclass could be mutable");

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_SealedRecordWithoutAttribute_Copy(Implementation implementation) =>
        (await Twice(implementation, () => new SealedRecord("v"))).Should().BeFalse();

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_ByteArray_Copy(Implementation implementation) =>
        (await Twice(implementation, () => new byte[] { 1, 2 })).Should().BeFalse();

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_StringArray_Copy(Implementation implementation) =>
        (await Twice(implementation, () => new[] { "a", "b" })).Should().BeFalse();

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_CallerMutatesItsCopy_OtherCallersUnaffected(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var mine = await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(new MutablePoco { Value = "original" }));

        mine.Value = "changed by one caller";

        (await host.Cache.GetOrCreateAsync<MutablePoco>("key", _ => throw new InvalidOperationException("cached"))).Value.Should().Be("original");
    }

    [Theory]
    [Both]
    public async Task SetAsync_CallerMutatesTheValueAfterwards_CacheUnaffected(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var value = new MutablePoco { Value = "original" };
        await host.Cache.SetAsync("key", value);

        value.Value = "changed after set";

        (await host.Cache.GetOrCreateAsync<MutablePoco>("key", _ => throw new InvalidOperationException("cached"))).Value.Should().Be("original");
    }

    /// <summary>Creates the value once, reads it again, and says whether both callers got the same instance.</summary>
    private static async Task<bool> Twice<T>(Implementation implementation, Func<T> create)
        where T : class
    {
        using var host = HybridHost.Create(implementation);
        var runs = 0;
        ValueTask<T> Factory(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            return ValueTask.FromResult(create());
        }

        var first = await host.Cache.GetOrCreateAsync("key", Factory);
        var second = await host.Cache.GetOrCreateAsync("key", Factory);
        runs.Should().Be(1);
        second.Should().BeEquivalentTo(first);
        return ReferenceEquals(first, second);
    }

    [ImmutableObject(false)]
    public sealed class MarkedMutable
    {
        public string Value { get; set; } = "";
    }

    [ImmutableObject(true)]
    public class UnsealedImmutable
    {
        public string Value { get; set; } = "";
    }

    public sealed record SealedRecord(string Value);
}
