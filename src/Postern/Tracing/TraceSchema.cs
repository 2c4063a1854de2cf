namespace Postern.Tracing;

/// <summary>
/// The trace database (<c>{dataDirectory}/trace/trace.db</c>, SQLite in WAL mode). <c>events</c>
/// holds every event; <c>messages</c> is one row per queue id, kept up to date by the writer, so
/// "one line per message" queries and <c>--status</c> filters need no grouping over all events.
/// Message-ID and sender are looked up in <c>messages</c>, so <c>events</c> has no index for them:
/// every index is work for each event written.
/// Times are Unix milliseconds (UTC). Names and addresses compare case-insensitively.
/// </summary>
public static class TraceSchema
{
    /// <summary>Bumped when the tables change; stored in <c>PRAGMA user_version</c>.</summary>
    public const int Version = 1;

    public const string Create = """
        CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            kind TEXT NOT NULL,
            queue_id TEXT,
            message_id TEXT,
            sender TEXT COLLATE NOCASE,
            recipient TEXT COLLATE NOCASE,
            connector TEXT COLLATE NOCASE,
            client_address TEXT,
            client_name TEXT,
            remote_host TEXT COLLATE NOCASE,
            remote_address TEXT,
            tls_level TEXT,
            tls_protocol TEXT,
            tls_cipher TEXT,
            certificate_subject TEXT,
            certificate_names TEXT,
            certificate_sha256 TEXT,
            verification TEXT,
            reply TEXT,
            duration_ms INTEGER,
            size INTEGER,
            detail TEXT
        );
        CREATE INDEX IF NOT EXISTS events_time ON events (time);
        CREATE INDEX IF NOT EXISTS events_queue_id ON events (queue_id, time);
        CREATE INDEX IF NOT EXISTS events_recipient ON events (recipient, time);
        CREATE INDEX IF NOT EXISTS events_connector ON events (connector, queue_id);
        CREATE INDEX IF NOT EXISTS events_outcomes ON events (time, id, queue_id, recipient, connector, kind, tls_protocol, verification, reply)
            WHERE kind IN ('delivered', 'deferred', 'bounced', 'expired');

        CREATE TABLE IF NOT EXISTS messages (
            queue_id TEXT PRIMARY KEY,
            first_time INTEGER NOT NULL,
            last_time INTEGER NOT NULL,
            message_id TEXT,
            sender TEXT COLLATE NOCASE,
            recipients TEXT COLLATE NOCASE,
            connector TEXT COLLATE NOCASE,
            client_address TEXT,
            size INTEGER,
            status TEXT NOT NULL,
            recipient_count INTEGER NOT NULL DEFAULT 0,
            waiting_count INTEGER NOT NULL DEFAULT 0,
            delivered_count INTEGER NOT NULL DEFAULT 0,
            failed_count INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS messages_first_time ON messages (first_time);
        CREATE INDEX IF NOT EXISTS messages_last_time ON messages (last_time);
        CREATE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);
        CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, first_time);
        CREATE INDEX IF NOT EXISTS messages_status ON messages (status, last_time);
        """;

    /// <summary>
    /// A message's status in <c>messages.status</c>, from its events: "received" until a recipient
    /// is queued; then "queued", "deferred" while any recipient waits; "delivered" when all were
    /// delivered; "bounced" / "expired" when any failed for good and none waits; "deleted";
    /// "rejected" for a message refused after its data was spooled.
    /// <c>messages.recipients</c> is the recipients joined with ", " in envelope order.
    /// <c>recipient_count</c>, <c>waiting_count</c> (queued or deferred), <c>delivered_count</c> and
    /// <c>failed_count</c> (bounced or expired) count the recipients by where each one stands now.
    /// <c>events.certificate_names</c> is the names joined with ", ". An event without a Message-ID
    /// (delivery events) gets the one its message was received with.
    /// </summary>
    public static readonly IReadOnlyList<string> Statuses = ["received", "queued", "deferred", "delivered", "bounced", "expired", "deleted", "rejected"];

    /// <summary>The lower-case word stored in <c>events.kind</c>.</summary>
    public static string KindName(TraceEventKind kind) => kind switch
    {
        TraceEventKind.Received => "received",
        TraceEventKind.Rejected => "rejected",
        TraceEventKind.Queued => "queued",
        TraceEventKind.Attempt => "attempt",
        TraceEventKind.Deferred => "deferred",
        TraceEventKind.Delivered => "delivered",
        TraceEventKind.Bounced => "bounced",
        TraceEventKind.Expired => "expired",
        TraceEventKind.Deleted => "deleted",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
