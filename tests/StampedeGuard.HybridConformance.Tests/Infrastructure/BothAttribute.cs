using System.Reflection;
using Xunit.Sdk;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>
/// Runs a theory once per implementation (Microsoft's, then StampedeGuard with its own L1 and with the L1 in the
/// registered IMemoryCache), with the given extra arguments after the implementation.
/// <see cref="NeedsRegisteredMemoryCache"/> leaves out StampedeGuard's default for a test that reaches into the
/// registered <c>IMemoryCache</c> (clears it, limits its size): that cache is its L1 only with
/// <c>UseRegisteredMemoryCache()</c> (docs/hybridcache.md).
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class BothAttribute(params object?[] arguments) : DataAttribute
{
    /// <summary>Gets or sets whether the test needs the registered IMemoryCache to be the L1.</summary>
    public bool NeedsRegisteredMemoryCache { get; set; }

    public override IEnumerable<object?[]> GetData(MethodInfo testMethod)
    {
        foreach (var implementation in Enum.GetValues<Implementation>().Where(i => !NeedsRegisteredMemoryCache || i != Implementation.StampedeGuard))
        {
            yield return [implementation, .. arguments];
        }
    }
}
