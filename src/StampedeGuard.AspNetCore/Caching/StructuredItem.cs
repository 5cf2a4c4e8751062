namespace StampedeGuard.AspNetCore.Caching;

/// <summary>A dictionary member's value (RFC 8941): its type, an integer (also a boolean's 0/1), a string or token's text, an inner list's strings.</summary>
internal readonly record struct StructuredItem(StructuredType Type, long Integer, string? Text, List<string>? Strings)
{
    public static readonly StructuredItem True = new(StructuredType.Boolean, 1, null, null);

    public static readonly StructuredItem False = new(StructuredType.Boolean, 0, null, null);
}
