using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Postern.Tests.Logging;

/// <summary>One event as a logger received it: the formatted message and the state's properties.</summary>
internal sealed record RecordedEvent(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Properties, Exception? Exception);

/// <summary>
/// A logger provider that keeps every event it is given, formatted with the event's own formatter,
/// as a console formatter would write the message.
/// </summary>
internal sealed class RecordingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<RecordedEvent> _events = new();

    public IReadOnlyList<RecordedEvent> Events => [.. _events];

    /// <summary>A factory with only this provider, at <paramref name="minimum"/> and above.</summary>
    public ILoggerFactory CreateFactory(LogLevel minimum = LogLevel.Trace) =>
        LoggerFactory.Create(builder => builder.SetMinimumLevel(minimum).AddProvider(this));

    public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

    /// <summary>The messages of the events with <paramref name="eventId"/>.</summary>
    public IReadOnlyList<string> Messages(int eventId) => Events.Where(e => e.EventId.Id == eventId).Select(e => e.Message).ToArray();

    /// <summary>Waits until an event with <paramref name="eventId"/> matches <paramref name="condition"/>.</summary>
    public async Task<RecordedEvent> WaitForAsync(int eventId, Func<RecordedEvent, bool>? condition = null, int seconds = 20)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            RecordedEvent? found = Events.FirstOrDefault(e => e.EventId.Id == eventId && (condition is null || condition(e)));
            if (found is not null) return found;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no event {eventId} within {seconds} s; logged:\n{string.Join("\n", Events.Select(e => $"[{e.EventId.Id}] {e.Message}"))}");
            await Task.Delay(20);
        }
    }

    public void Dispose()
    {
    }

    private sealed class Recorder(RecordingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var properties = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var (key, value) in pairs) properties[key] = value;
            }
            owner._events.Enqueue(new RecordedEvent(category, logLevel, eventId, formatter(state, exception), properties, exception));
        }
    }
}
