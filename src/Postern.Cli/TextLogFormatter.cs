using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Postern.Cli;

/// <summary>
/// <c>--log-format text</c>: one line per event, <c>2026-11-29T05:01:02.123Z info  Postern.Smtpd[1003] Anonymous TLS connection ...</c>,
/// UTC with milliseconds. Line breaks inside a message are written as <c>\r</c> and <c>\n</c>, so a
/// peer's words cannot start a line of their own; an exception follows on lines indented by four spaces.
/// </summary>
internal sealed class TextLogFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "postern-text";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message.Length == 0 && logEntry.Exception is null) return;

        textWriter.Write(DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        textWriter.Write(' ');
        textWriter.Write(LevelName(logEntry.LogLevel));
        textWriter.Write("  ");
        textWriter.Write(logEntry.Category);
        textWriter.Write('[');
        textWriter.Write(logEntry.EventId.Id.ToString(CultureInfo.InvariantCulture));
        textWriter.Write("] ");
        textWriter.Write(message.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal));
        textWriter.Write('\n');
        if (logEntry.Exception is { } exception)
        {
            foreach (string line in exception.ToString().Split('\n'))
            {
                textWriter.Write("    ");
                textWriter.Write(line.TrimEnd('\r'));
                textWriter.Write('\n');
            }
        }
    }

    /// <summary>The four-letter level names of Microsoft's console formatters.</summary>
    internal static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}
