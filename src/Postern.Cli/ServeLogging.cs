using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Postern.Cli;

/// <summary>The console logging of <c>postern serve</c>: <c>--log-format</c> and <c>--log-level</c>.</summary>
internal static class ServeLogging
{
    /// <summary>ISO 8601 in UTC with milliseconds, as the text format writes it.</summary>
    public const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    /// <summary>
    /// Whether standard output goes to the journal: systemd started the process
    /// (Microsoft.Extensions.Hosting.Systemd's test) or set JOURNAL_STREAM for it.
    /// </summary>
    public static bool UnderJournal() =>
        SystemdHelpers.IsSystemdService() || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"));

    /// <summary>
    /// One console provider with the formatter <paramref name="format"/> asks for: json, the
    /// systemd format for text under the journal (it adds the time itself), else Postern's text.
    /// </summary>
    public static void Configure(ILoggingBuilder logging, string format, LogLevel level, bool underJournal)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(level);
        logging.AddConsole();
        logging.AddConsoleFormatter<TextLogFormatter, ConsoleFormatterOptions>();
        logging.AddJsonConsole(o =>
        {
            o.UseUtcTimestamp = true;
            o.TimestampFormat = TimestampFormat;
            o.IncludeScopes = false;
            o.JsonWriterOptions = new JsonWriterOptions { Indented = false };
        });
        logging.AddSystemdConsole(o =>
        {
            o.IncludeScopes = false;
            o.TimestampFormat = null;
        });
        string formatter = format == "json" ? ConsoleFormatterNames.Json
            : underJournal ? ConsoleFormatterNames.Systemd
            : TextLogFormatter.FormatterName;
        // After AddSystemd, which picks the systemd format for every service it detects.
        logging.Services.PostConfigure<ConsoleLoggerOptions>(o => o.FormatterName = formatter);
    }
}
