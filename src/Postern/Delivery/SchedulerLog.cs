using Microsoft.Extensions.Logging;

namespace Postern.Delivery;

/// <summary>Log messages of the queue scheduler; event ids 4000-4099 are stable.</summary>
internal static partial class SchedulerLog
{
    [LoggerMessage(4000, LogLevel.Information, "{QueueId}: to=<{Recipient}> connector=\"{Connector}\" relay={Relay} status={Status} ({Reply})")]
    public static partial void Outcome(ILogger logger, string queueId, string recipient, string connector, string relay, string status, string reply);

    [LoggerMessage(4001, LogLevel.Information, "{QueueId}: removed")]
    public static partial void Removed(ILogger logger, string queueId);

    [LoggerMessage(4002, LogLevel.Information, "{QueueId}: to=<{Recipient}> status=expired ({Reason})")]
    public static partial void Expired(ILogger logger, string queueId, string recipient, string reason);

    [LoggerMessage(4003, LogLevel.Information, "{QueueId}: sender {Kind} notification: {ReportId} to <{Recipient}>")]
    public static partial void ReportQueued(ILogger logger, string queueId, string reportId, string kind, string recipient);

    [LoggerMessage(4004, LogLevel.Error, "{QueueId}: delivery pass failed; retrying later")]
    public static partial void ProcessingFailed(ILogger logger, string queueId, Exception exception);

    [LoggerMessage(4005, LogLevel.Warning, "{QueueId}: queue entry unreadable: {Reason}")]
    public static partial void EntryUnreadable(ILogger logger, string queueId, string reason);

    [LoggerMessage(4006, LogLevel.Information, "{QueueId}: deleted by the administrator")]
    public static partial void Deleted(ILogger logger, string queueId);

    [LoggerMessage(4007, LogLevel.Error, "{QueueId}: delivery attempt failed unexpectedly")]
    public static partial void AttemptFailed(ILogger logger, string queueId, Exception exception);
}
