namespace StampedeGuard.AotSmoke;

/// <summary>A cached record: serialized to Redis through <see cref="SmokeJson"/>, never by reflection.</summary>
public sealed record Forecast(string City, int TemperatureC, DateTimeOffset At, string[] Tags);
