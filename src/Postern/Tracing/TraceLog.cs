using Microsoft.Extensions.Logging;

namespace Postern.Tracing;

/// <summary>Log messages of the trace store; event ids 6000-6099 are reserved for this area.</summary>
internal static partial class TraceLog
{
    [LoggerMessage(6000, LogLevel.Information, "Trace store {Path} open: retention {RetentionDays} day(s), at most {MaxSizeMegabytes} MB")]
    public static partial void Opened(ILogger logger, string path, int retentionDays, long maxSizeMegabytes);

    [LoggerMessage(6001, LogLevel.Warning, "Trace store: {Count} event(s) dropped since the last report because the writer is behind")]
    public static partial void Dropped(ILogger logger, long count);

    [LoggerMessage(6002, LogLevel.Error, "Trace store: a batch of {Count} event(s) could not be written: {Error}")]
    public static partial void WriteFailed(ILogger logger, int count, string error);

    [LoggerMessage(6003, LogLevel.Information, "Trace store: {Messages} message(s) and {Events} event(s) older than {RetentionDays} day(s) deleted")]
    public static partial void Expired(ILogger logger, long messages, long events, int retentionDays);

    [LoggerMessage(6004, LogLevel.Warning, "Trace store: {SizeBytes} bytes is over the bound of {MaxSizeBytes}; {Messages} oldest message(s) and {Events} event(s) deleted, now {NewSizeBytes} bytes")]
    public static partial void Shrunk(ILogger logger, long sizeBytes, long maxSizeBytes, long messages, long events, long newSizeBytes);

    [LoggerMessage(6005, LogLevel.Error, "Trace store: maintenance failed: {Error}")]
    public static partial void MaintenanceFailed(ILogger logger, string error);

    [LoggerMessage(6006, LogLevel.Information, "Trace store {Path} closed: {Written} event(s) written, {Dropped} dropped")]
    public static partial void Closed(ILogger logger, string path, long written, long dropped);

    [LoggerMessage(6007, LogLevel.Error, "Trace store {Path} cannot be opened ({Error}); the gateway runs without a message trace")]
    public static partial void Unavailable(ILogger logger, string path, string error);
}
