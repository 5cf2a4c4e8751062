namespace StampedeGuard.AspNetCore.Caching;

/// <summary>The RFC 8941 types a dictionary member can have.</summary>
internal enum StructuredType
{
    Boolean,
    Integer,
    Decimal,
    String,
    Token,
    Binary,
    InnerList,
}
