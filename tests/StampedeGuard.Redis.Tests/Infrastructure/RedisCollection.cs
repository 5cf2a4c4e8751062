namespace StampedeGuard.Redis.Tests.Infrastructure;

[CollectionDefinition("redis")]
public sealed class RedisCollection : ICollectionFixture<RedisFixture>;
