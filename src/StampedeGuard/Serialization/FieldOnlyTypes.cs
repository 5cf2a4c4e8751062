using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace StampedeGuard.Serialization;

/// <summary>
/// Finds types whose data System.Text.Json would lose without <c>IncludeFields</c>: a type with public instance fields
/// and no public properties (value tuples, field-only classes), or one that reaches such a type through a property or
/// as the element of a collection (<c>List&lt;(int, string)&gt;</c>, <c>Dictionary&lt;string, (int, DateTime)&gt;</c>).
/// Microsoft's HybridCache applies the same rule to its default options. Reflection over types known only at run time:
/// used only with System.Text.Json's reflection-based defaults, which Native AOT and trimmed applications do not have.
/// </summary>
internal static class FieldOnlyTypes
{
    private const string Reflects = "Reads the public properties, fields and interfaces of the type and of the types it reaches, which trimming may remove.";

    private static readonly ConcurrentDictionary<Type, bool> Known = new();

    [RequiresUnreferencedCode(Reflects)]
    public static bool Contains(Type type) => Known.GetOrAdd(type, static t => Visit(t, []));

    [RequiresUnreferencedCode(Reflects)]
    private static bool Visit(Type type, HashSet<Type> visiting)
    {
        if (type.IsPrimitive || type == typeof(string) || !visiting.Add(type))
        {
            return false; // primitives carry no fields; a type already on the path is decided by its first visit.
        }

        if (typeof(IEnumerable).IsAssignableFrom(type))
        {
            foreach (var implemented in type.GetInterfaces())
            {
                if (implemented.IsGenericType && implemented.GetGenericTypeDefinition() == typeof(IEnumerable<>) && Visit(implemented.GetGenericArguments()[0], visiting))
                {
                    return true;
                }
            }

            return false;
        }

        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance);
        if (properties.Length == 0)
        {
            return type.GetFields(BindingFlags.Public | BindingFlags.Instance).Length != 0;
        }

        foreach (var property in properties)
        {
            if (Visit(property.PropertyType, visiting))
            {
                return true;
            }
        }

        return false;
    }
}
