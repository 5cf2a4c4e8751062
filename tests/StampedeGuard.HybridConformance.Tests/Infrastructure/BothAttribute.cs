using System.Reflection;
using Xunit.Sdk;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>Runs a theory once per implementation, with the given extra arguments after the implementation.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class BothAttribute(params object?[] arguments) : DataAttribute
{
    public override IEnumerable<object?[]> GetData(MethodInfo testMethod)
    {
        yield return [Implementation.Microsoft, .. arguments];
        yield return [Implementation.StampedeGuard, .. arguments];
    }
}
