using System.Text.Json.Serialization;

namespace StampedeGuard.Tests.Serialization;

/// <summary>A source-generated context as an application would write one for Native AOT: camelCase, so its output is told apart from the defaults'.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ListedRecord))]
internal sealed partial class CamelCaseJson : JsonSerializerContext;

/// <summary>A source-generated context with System.Text.Json's default settings: it writes what reflection writes.</summary>
[JsonSerializable(typeof(ListedRecord))]
internal sealed partial class DefaultsJson : JsonSerializerContext;

/// <summary>A type the contexts list.</summary>
public sealed record ListedRecord(int Id, string Name);

/// <summary>A type no context lists.</summary>
public sealed record UnlistedRecord(int Id);
