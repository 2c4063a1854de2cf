using Microsoft.Extensions.Logging;

namespace Postern.Delivery;

/// <summary>Log messages of DSN generation; event ids 4400-4419.</summary>
internal static partial class DeliveryStatusNotificationLog
{
    [LoggerMessage(EventId = 4400, EventName = "DsnBuilt", Level = LogLevel.Information,
        Message = "Delivery status notification {MessageId} about {QueueId} built for {Sender}, {Recipients} recipients reported")]
    public static partial void Built(ILogger logger, string queueId, string messageId, string sender, int recipients);

    [LoggerMessage(EventId = 4401, EventName = "DsnSuppressed", Level = LogLevel.Warning,
        Message = "No delivery status notification about {QueueId} is sent to <{Sender}>: {Reason}")]
    public static partial void Suppressed(ILogger logger, string queueId, string sender, DsnSuppression reason);

    [LoggerMessage(EventId = 4402, EventName = "DsnNotRequested", Level = LogLevel.Debug,
        Message = "No delivery status notification about {QueueId}: NOTIFY asks for none of the {Recipients} reports")]
    public static partial void NotRequested(ILogger logger, string queueId, int recipients);
}
