namespace StampedeGuard.AotSmoke;

/// <summary>A cached record: serialized to Redis through <see cref="SmokeJson"/>, never by reflection.</summary>
public sealed record Forecast(string City, int TemperatureC, DateTimeOffset At, string[] Tags);

/// <summary>A record no context lists: under Native AOT it has no serializer.</summary>
public sealed record Unlisted(int Id);
