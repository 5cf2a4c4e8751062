namespace StampedeGuard.Redis.Tests.Infrastructure;

[CollectionDefinition("redis")]
public sealed class RedisCollection : ICollectionFixture<RedisFixture>;

/// <summary>
/// Tests whose claim is about timing in real time (a watchdog tick, a reply within a bound): they run on their own
/// server after every parallel collection has finished, so another class's servers starting, dying and reconnecting in
/// the same process cannot hold up the thread pool they depend on (2 cores here).
/// </summary>
[CollectionDefinition("redis-alone", DisableParallelization = true)]
public sealed class RedisAloneCollection : ICollectionFixture<RedisFixture>;
