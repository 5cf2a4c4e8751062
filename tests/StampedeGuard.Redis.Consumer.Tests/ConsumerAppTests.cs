using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using StampedeGuard.Locking;
using StampedeGuard.Redis;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Consumer.Tests;

/// <summary>What a new user does: their own multiplexer on the newest client, two cache instances, the lock, dispose everything.</summary>
public sealed class ConsumerAppTests
{
    [Fact]
    public async Task ConsumerApp_OwnMultiplexerOnClient3_TwoCachesLockAndDisposeAll_NoException()
    {
        var unobserved = new ConcurrentQueue<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => unobserved.Enqueue(e.Exception);
        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            await using var server = await RedisServer.StartAsync();
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(server.Configuration);
            var log = new ConcurrentQueue<string>();
            var first = NewApp(multiplexer, server.Configuration, new CollectingLoggerFactory("first", log));
            var second = NewApp(multiplexer, server.Configuration, new CollectingLoggerFactory("second", log));
            var runs = 0;
            ValueTask<string> Factory(CancellationToken _) => ValueTask.FromResult("v" + Interlocked.Increment(ref runs));
            var entry = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };

            var a = await first.GetRequiredService<IStampedeCache>().GetOrCreateAsync("k", Factory, entry);
            var b = await second.GetRequiredService<IStampedeCache>().GetOrCreateAsync("k", Factory, entry);
            await using (var lease = await first.GetRequiredService<IStampedeLock>().AcquireAsync("job", new StampedeLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) }))
            {
                (await second.GetRequiredService<IStampedeLock>().TryAcquireAsync("job")).Should().BeNull("the first app holds it");
            }

            await using (var lease = await second.GetRequiredService<IStampedeLock>().AcquireAsync("job", new StampedeLockOptions { WaitTimeout = TimeSpan.FromSeconds(10) }))
            {
                lease.Name.Should().Be("job");
            }

            // Microsoft.Extensions.Caching.StackExchangeRedis in the same app on the same 3.x client, beside StampedeGuard.Redis.
            var distributed = first.GetRequiredService<IDistributedCache>();
            await distributed.SetStringAsync("plain", "ok");
            (await distributed.GetStringAsync("plain")).Should().Be("ok");

            await first.DisposeAsync();
            await second.DisposeAsync();
            multiplexer.IsConnected.Should().BeTrue("StampedeGuard never disposes a multiplexer it does not own");
            await multiplexer.GetDatabase().PingAsync();
            await multiplexer.DisposeAsync();

            a.Should().Be("v1");
            b.Should().Be("v1", "the second cache reads the first one's value from Redis (what the apps logged: {0})", string.Join(" | ", log));
            runs.Should().Be(1);
            typeof(ConnectionMultiplexer).Assembly.GetName().Version!.Major.Should().Be(3, "the application's client is 3.x");
        }
        finally
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        unobserved.Should().BeEmpty();
    }

    private static ServiceProvider NewApp(IConnectionMultiplexer multiplexer, string configuration, ILoggerFactory loggerFactory)
    {
        var services = new ServiceCollection();
        services.AddSingleton(loggerFactory);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));

        // Its own connection: RedisCache disposes even a multiplexer handed to it by ConnectionMultiplexerFactory
        // (dotnet/aspnetcore#67438), so it cannot share the application's.
        services.AddStackExchangeRedisCache(o => o.Configuration = configuration);
        services.AddStampedeGuard().AddRedis(o =>
        {
            o.ConnectionMultiplexer = multiplexer;
            o.OperationTimeout = TimeSpan.FromSeconds(5); // about compatibility, not timeouts: a cold first script call may take over a second
        });
        return services.BuildServiceProvider();
    }

    /// <summary>Every log line of an app (Debug and up), kept to explain a failure.</summary>
    private sealed class CollectingLoggerFactory(string app, ConcurrentQueue<string> lines) : ILoggerFactory, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{app} {logLevel} {eventId.Id}: {formatter(state, exception)} {exception?.GetType().Name}");
    }
}
