using Microsoft.Extensions.Logging;

namespace Postern.Spool;

/// <summary>Log messages of the spool; event ids 3000-3099 are reserved for this area.</summary>
internal static partial class SpoolLog
{
    [LoggerMessage(EventId = 3000, EventName = "SpoolRecovered", Level = LogLevel.Information,
        Message = "Spool {Directory} recovered: {Messages} queued, {PartialEntriesRemoved} partial entries removed, {CorruptEntries} corrupt entries quarantined")]
    public static partial void Recovered(ILogger logger, string directory, int messages, int partialEntriesRemoved, int corruptEntries);

    [LoggerMessage(EventId = 3001, EventName = "PartialEntryRemoved", Level = LogLevel.Debug,
        Message = "Removed partial spool entry {Path}")]
    public static partial void PartialEntryRemoved(ILogger logger, string path);

    [LoggerMessage(EventId = 3002, EventName = "CorruptEntryQuarantined", Level = LogLevel.Error,
        Message = "Spool entry {Name} is corrupt ({Reason}); moved to {QuarantinePath}")]
    public static partial void CorruptEntryQuarantined(ILogger logger, string name, string reason, string quarantinePath);

    [LoggerMessage(EventId = 3003, EventName = "CommitFailed", Level = LogLevel.Error,
        Message = "Commit of spool entry {QueueId} failed; the entry was removed")]
    public static partial void CommitFailed(ILogger logger, string queueId, Exception exception);

    [LoggerMessage(EventId = 3004, EventName = "DirectorySyncFailed", Level = LogLevel.Critical,
        Message = "fsync of spool directory {Directory} failed: {Error}")]
    public static partial void DirectorySyncFailed(ILogger logger, string directory, string error);

    [LoggerMessage(EventId = 3005, EventName = "MessageCommitted", Level = LogLevel.Debug,
        Message = "Spool entry {QueueId} committed, {Length} message bytes")]
    public static partial void MessageCommitted(ILogger logger, string queueId, long length);

    [LoggerMessage(EventId = 3006, EventName = "MessageDeleted", Level = LogLevel.Debug,
        Message = "Spool entry {QueueId} deleted")]
    public static partial void MessageDeleted(ILogger logger, string queueId);

    [LoggerMessage(EventId = 3007, EventName = "WriteFailed", Level = LogLevel.Warning,
        Message = "Writing spool entry {QueueId} failed; the partial entry was removed")]
    public static partial void WriteFailed(ILogger logger, string queueId, Exception exception);

    [LoggerMessage(EventId = 3008, EventName = "PartialEntryRemovalFailed", Level = LogLevel.Warning,
        Message = "Could not remove partial spool entry {Path}")]
    public static partial void PartialEntryRemovalFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 3010, EventName = "DeliveryStateDamaged", Level = LogLevel.Error,
        Message = "Delivery state of {QueueId} is damaged ({Reason}); its recipients are attempted again")]
    public static partial void StateDamaged(ILogger logger, string queueId, string reason);

    [LoggerMessage(EventId = 3011, EventName = "OrphanDeliveryStateRemoved", Level = LogLevel.Information,
        Message = "Removed delivery state {Name}, which has no spool entry")]
    public static partial void OrphanStateRemoved(ILogger logger, string name);

    [LoggerMessage(EventId = 3012, EventName = "DeliveryStateSaveFailed", Level = LogLevel.Error,
        Message = "Saving the delivery state of {QueueId} failed; the previous state is kept")]
    public static partial void StateSaveFailed(ILogger logger, string queueId, Exception exception);

    [LoggerMessage(3020, LogLevel.Error, "{QueueId}: a commit listener failed")]
    public static partial void CommittedHandlerFailed(ILogger logger, string queueId, Exception exception);
}
