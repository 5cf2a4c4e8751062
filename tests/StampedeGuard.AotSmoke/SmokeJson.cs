using System.Text.Json.Serialization;

namespace StampedeGuard.AotSmoke;

/// <summary>The application's source-generated JSON contracts, given to StampedeGuard's serializer and to Memoize.</summary>
[JsonSerializable(typeof(Forecast))]
internal sealed partial class SmokeJson : JsonSerializerContext;
