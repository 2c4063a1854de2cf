using Microsoft.Extensions.Logging;

namespace Postern.Hosting;

/// <summary>Log messages of the admin endpoint; event ids 150-169 are stable.</summary>
internal static partial class AdminEndpointLog
{
    [LoggerMessage(150, LogLevel.Information, "Admin endpoint listening on {Address}")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(151, LogLevel.Information, "Admin endpoint on {Address} stopped")]
    public static partial void Stopped(ILogger logger, string address);

    [LoggerMessage(152, LogLevel.Error, "Admin request {Method} {Path} failed")]
    public static partial void RequestFailed(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(153, LogLevel.Information, "{QueueId}: retry requested by an administrator")]
    public static partial void RetryRequested(ILogger logger, string queueId);

    [LoggerMessage(154, LogLevel.Information, "Retry of all {Count} queued message(s) requested by an administrator")]
    public static partial void RetryAllRequested(ILogger logger, int count);

    [LoggerMessage(155, LogLevel.Information, "{QueueId}: deleted by an administrator")]
    public static partial void DeletedByAdministrator(ILogger logger, string queueId);
}
