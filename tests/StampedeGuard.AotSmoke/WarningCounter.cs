using Microsoft.Extensions.Logging;

namespace StampedeGuard.AotSmoke;

/// <summary>Counts warnings and errors the libraries log (a swallowed L2 serialization failure is one) and shows them on stderr.</summary>
internal sealed class WarningCounter : ILoggerProvider, ILogger
{
    private int _count;
    private string _last = string.Empty;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Gets the last warning's message and exception.</summary>
    public string Last => Volatile.Read(ref _last);

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            var text = $"{logLevel} {eventId.Id}: {formatter(state, exception)} {exception}";
            Volatile.Write(ref _last, text);
            Interlocked.Increment(ref _count);
            Console.Error.WriteLine(text);
        }
    }

    public void Dispose()
    {
    }
}
