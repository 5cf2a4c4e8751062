using System.ComponentModel;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace StampedeGuard.Hybrid;

/// <summary>
/// Whether values of <typeparamref name="T"/> may be handed to every caller as the same instance, by HybridCache's
/// rules: <see cref="string"/>; value types without references (primitives, <see cref="Guid"/>, blittable structs,
/// and their nullable forms); and value types or <em>sealed</em> classes marked <c>[ImmutableObject(true)]</c> (a class
/// that is not sealed may have a mutable subclass). Anything else (records included, unless sealed and marked) gets a
/// defensive copy per caller.
/// </summary>
/// <typeparam name="T">The type of the cached value.</typeparam>
internal static class ImmutableType<T>
{
    /// <summary>Gets whether <typeparamref name="T"/> needs no defensive copy.</summary>
    public static readonly bool IsImmutable = (typeof(T).IsValueType && !RuntimeHelpers.IsReferenceOrContainsReferences<T>()) || IsMarkedImmutable(typeof(T));

    private static bool IsMarkedImmutable(Type type)
    {
        if (type == typeof(string))
        {
            return true;
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        return (type.IsValueType || (type.IsClass && type.IsSealed)) && type.GetCustomAttribute<ImmutableObjectAttribute>() is { Immutable: true };
    }
}
