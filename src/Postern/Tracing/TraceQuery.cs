using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Postern.Tracing;

/// <summary>One message as <c>postern trace</c> lists it (a row of <c>messages</c>), with its events when asked for.</summary>
public sealed record TraceMessage
{
    public required string QueueId { get; init; }
    /// <summary>When the message was received.</summary>
    public required DateTimeOffset FirstTime { get; init; }
    /// <summary>Its latest event.</summary>
    public required DateTimeOffset LastTime { get; init; }
    public string? MessageId { get; init; }
    /// <summary>The envelope sender; empty for the null sender.</summary>
    public string? Sender { get; init; }
    /// <summary>The envelope recipients, in envelope order.</summary>
    public required IReadOnlyList<string> Recipients { get; init; }
    /// <summary>The inbound connector that admitted it.</summary>
    public string? Connector { get; init; }
    public string? ClientAddress { get; init; }
    public long? Size { get; init; }
    /// <summary>One of <see cref="TraceSchema.Statuses"/>.</summary>
    public required string Status { get; init; }
    /// <summary>Every event of the message in time order; null unless details were asked for.</summary>
    public IReadOnlyList<TraceEvent>? Events { get; init; }
}

/// <summary>The answer to a <see cref="TraceFilter"/>: matching messages, newest first.</summary>
public sealed record TraceResult
{
    public int Count { get; init; }
    /// <summary>True when more messages match than the limit let through.</summary>
    public bool More { get; init; }
    public required IReadOnlyList<TraceMessage> Messages { get; init; }
}

/// <summary>The trace database cannot be read: it does not exist yet, or it is not a trace database.</summary>
public sealed class TraceStoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Reads the trace database (<c>{dataDirectory}/trace/trace.db</c>) read-only, while the gateway
/// may be writing it (WAL: readers see the last committed transaction and never block the writer).
/// Every value reaches SQLite as a parameter.
/// </summary>
public sealed class TraceQuery : IDisposable
{
    private readonly SqliteConnection _connection;

    private readonly bool _hasConnectorIndex;

    private TraceQuery(SqliteConnection connection, string path, bool hasConnectorIndex)
    {
        _connection = connection;
        DatabasePath = path;
        _hasConnectorIndex = hasConnectorIndex;
    }

    /// <summary>
    /// Indexes the queries use when they exist, beyond <see cref="TraceSchema.Create"/>: the
    /// <c>--connector</c> filter probes one index entry per message instead of reading its events,
    /// and the TLS report reads the outcome columns from a partial covering index instead of whole
    /// event rows. <see cref="TraceSchema.Create"/> includes them, so the store creates them; the
    /// query side never needs them.
    /// </summary>
    public const string RecommendedIndexes = """
        CREATE INDEX IF NOT EXISTS events_connector ON events (connector, queue_id);
        CREATE INDEX IF NOT EXISTS events_outcomes ON events (time, id, queue_id, recipient, connector, kind, tls_protocol, verification, reply)
            WHERE kind IN ('delivered', 'deferred', 'bounced', 'expired');
        """;

    public string DatabasePath { get; }

    /// <summary><c>{dataDirectory}/trace/trace.db</c>.</summary>
    public static string PathFor(string dataDirectory) => TraceStoreOptions.DatabasePath(Path.GetFullPath(dataDirectory));

    /// <summary>Opens the trace database of <paramref name="dataDirectory"/> read-only.</summary>
    /// <exception cref="TraceStoreUnavailableException">There is no database there yet, or it cannot be read.</exception>
    public static TraceQuery Open(string dataDirectory) => OpenFile(PathFor(dataDirectory));

    /// <summary>Opens the database file <paramref name="path"/> read-only.</summary>
    /// <exception cref="TraceStoreUnavailableException">There is no database there yet, or it cannot be read.</exception>
    public static TraceQuery OpenFile(string path)
    {
        if (!File.Exists(path))
            throw new TraceStoreUnavailableException($"no trace database at {path} (the gateway creates it when it records its first event)");
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadOnly,
            // A CLI or one request opens it once; pooled handles would keep the file open after Dispose.
            Pooling = false,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            using SqliteCommand check = connection.CreateCommand();
            check.CommandText = "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('events', 'messages')";
            if (Convert.ToInt64(check.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) != 2)
                throw new TraceStoreUnavailableException($"{path} is not a trace database (no events and messages tables)");
            check.CommandText = "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'events_connector'";
            bool hasConnectorIndex = Convert.ToInt64(check.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 1;
            // A reader in WAL mode waits only while the writer recovers or checkpoints with TRUNCATE.
            // Reports read much of the file: map it rather than copy it page by page.
            check.CommandText = "PRAGMA busy_timeout = 5000; PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768";
            check.ExecuteNonQuery();
            return new TraceQuery(connection, path, hasConnectorIndex);
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw new TraceStoreUnavailableException($"cannot read the trace database {path}: {e.Message}", e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The messages that match <paramref name="filter"/>, newest first, at most <see cref="TraceFilter.Limit"/>.</summary>
    /// <exception cref="ArgumentException">The filter has problems (see <see cref="TraceFilter.Problems"/>).</exception>
    public TraceResult Find(TraceFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (filter.Problems() is { Count: > 0 } problems) throw new ArgumentException(string.Join("; ", problems), nameof(filter));
        try
        {
            using SqliteCommand command = BuildFind(filter);
            var messages = new List<TraceMessage>();
            using (SqliteDataReader reader = command.ExecuteReader())
            {
                while (reader.Read()) messages.Add(ReadMessage(reader));
            }
            bool more = messages.Count > filter.Limit;
            if (more) messages.RemoveAt(messages.Count - 1);
            if (filter.Details) messages = AddEvents(messages);
            return new TraceResult { Count = messages.Count, More = more, Messages = messages };
        }
        catch (SqliteException e)
        {
            throw new TraceStoreUnavailableException($"cannot read the trace database {DatabasePath}: {e.Message}", e);
        }
    }

    /// <summary>The SQL of <see cref="Find"/> with its parameters (EXPLAIN QUERY PLAN in tests and the benchmark).</summary>
    internal SqliteCommand BuildFind(TraceFilter filter)
    {
        SqliteCommand command = _connection.CreateCommand();
        var sql = new StringBuilder("""
            SELECT m.queue_id, m.first_time, m.last_time, m.message_id, m.sender, m.recipients, m.connector, m.client_address, m.size, m.status
            FROM messages AS m
            WHERE 1
            """);
        if (filter.MessageId is { } messageId)
        {
            sql.Append("\n  AND m.message_id = $message_id");
            command.Parameters.AddWithValue("$message_id", messageId.Trim().TrimStart('<').TrimEnd('>'));
        }
        if (filter.Sender is { } senderText && AddressPattern.Parse(senderText) is { } sender)
        {
            if (sender.IsDomain)
            {
                sql.Append("\n  AND m.sender LIKE $sender ESCAPE '\\'");
                command.Parameters.AddWithValue("$sender", sender.Like());
            }
            else
            {
                sql.Append("\n  AND m.sender = $sender");
                command.Parameters.AddWithValue("$sender", sender.Value);
            }
        }
        if (filter.Recipient is { } recipientText && AddressPattern.Parse(recipientText) is { } recipient)
        {
            if (recipient.IsDomain)
            {
                // messages.recipients is "a@x, b@y": the domain ends the list or comes before ", ".
                sql.Append("\n  AND (m.recipients LIKE $recipient_last ESCAPE '\\' OR m.recipients LIKE $recipient_inner ESCAPE '\\')");
                command.Parameters.AddWithValue("$recipient_last", recipient.Like());
                command.Parameters.AddWithValue("$recipient_inner", recipient.Like(", %"));
            }
            else
            {
                sql.Append("\n  AND m.queue_id IN (SELECT e.queue_id FROM events AS e WHERE e.recipient = $recipient)");
                command.Parameters.AddWithValue("$recipient", recipient.Value);
            }
        }
        // The window bounds the time each line shows, the message's latest event: one index range.
        if (filter.Since is { } since)
        {
            sql.Append("\n  AND m.last_time >= $since");
            command.Parameters.AddWithValue("$since", TraceTimes.ToUnixMs(since));
        }
        if (filter.Until is { } until)
        {
            sql.Append("\n  AND m.last_time < $until");
            command.Parameters.AddWithValue("$until", TraceTimes.ToUnixMs(until));
        }
        if (filter.Status is { } status)
        {
            sql.Append("\n  AND m.status = $status");
            command.Parameters.AddWithValue("$status", status);
        }
        if (filter.Connector is { } connector)
        {
            // With events_connector (connector, queue_id) each message costs one index probe; without it, a look at its events.
            sql.Append(_hasConnectorIndex
                ? "\n  AND (m.connector = $connector OR EXISTS (SELECT 1 FROM events AS e INDEXED BY events_connector WHERE e.connector = $connector AND e.queue_id = m.queue_id))"
                : "\n  AND (m.connector = $connector OR EXISTS (SELECT 1 FROM events AS e WHERE e.queue_id = m.queue_id AND e.connector = $connector))");
            command.Parameters.AddWithValue("$connector", connector);
        }
        sql.Append("\nORDER BY m.last_time DESC, m.queue_id DESC\nLIMIT $limit");
        command.Parameters.AddWithValue("$limit", filter.Limit + 1);
        command.CommandText = sql.ToString();
        return command;
    }

    /// <summary>Every event of one message, in time order.</summary>
    public IReadOnlyList<TraceEvent> Events(string queueId)
    {
        using SqliteCommand command = EventsCommand();
        command.Parameters["$queue_id"].Value = queueId;
        return ReadEvents(command);
    }

    private List<TraceMessage> AddEvents(List<TraceMessage> messages)
    {
        using SqliteCommand command = EventsCommand();
        var withEvents = new List<TraceMessage>(messages.Count);
        foreach (TraceMessage message in messages)
        {
            command.Parameters["$queue_id"].Value = message.QueueId;
            withEvents.Add(message with { Events = ReadEvents(command) });
        }
        return withEvents;
    }

    private SqliteCommand EventsCommand()
    {
        SqliteCommand command = _connection.CreateCommand();
        command.CommandText = $"SELECT {EventColumns} FROM events WHERE queue_id = $queue_id ORDER BY time, id";
        command.Parameters.Add("$queue_id", SqliteType.Text);
        return command;
    }

    internal const string EventColumns = "time, kind, queue_id, message_id, sender, recipient, connector, client_address, client_name, remote_host, remote_address, "
        + "tls_level, tls_protocol, tls_cipher, certificate_subject, certificate_names, certificate_sha256, verification, reply, duration_ms, size, detail";

    private static List<TraceEvent> ReadEvents(SqliteCommand command)
    {
        var events = new List<TraceEvent>();
        using SqliteDataReader reader = command.ExecuteReader();
        while (reader.Read())
        {
            events.Add(new TraceEvent
            {
                Time = TraceTimes.FromUnixMs(reader.GetInt64(0)),
                Kind = KindOf(reader.GetString(1)),
                QueueId = Text(reader, 2),
                MessageId = Text(reader, 3),
                Sender = Text(reader, 4),
                Recipient = Text(reader, 5),
                Connector = Text(reader, 6),
                ClientAddress = Text(reader, 7),
                ClientName = Text(reader, 8),
                RemoteHost = Text(reader, 9),
                RemoteAddress = Text(reader, 10),
                TlsLevel = Text(reader, 11),
                TlsProtocol = Text(reader, 12),
                TlsCipher = Text(reader, 13),
                CertificateSubject = Text(reader, 14),
                CertificateNames = Names(Text(reader, 15)),
                CertificateSha256 = Text(reader, 16),
                Verification = Text(reader, 17),
                Reply = Text(reader, 18),
                DurationMs = reader.IsDBNull(19) ? null : reader.GetInt64(19),
                Size = reader.IsDBNull(20) ? null : reader.GetInt64(20),
                Detail = Text(reader, 21),
            });
        }
        return events;
    }

    private static TraceMessage ReadMessage(SqliteDataReader reader) => new()
    {
        QueueId = reader.GetString(0),
        FirstTime = TraceTimes.FromUnixMs(reader.GetInt64(1)),
        LastTime = TraceTimes.FromUnixMs(reader.GetInt64(2)),
        MessageId = Text(reader, 3),
        Sender = Text(reader, 4),
        Recipients = Text(reader, 5) is { Length: > 0 } list ? list.Split(", ") : [],
        Connector = Text(reader, 6),
        ClientAddress = Text(reader, 7),
        Size = reader.IsDBNull(8) ? null : reader.GetInt64(8),
        Status = reader.GetString(9),
    };

    internal static string? Text(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    internal static TraceEventKind KindOf(string name) => name switch
    {
        "received" => TraceEventKind.Received,
        "rejected" => TraceEventKind.Rejected,
        "queued" => TraceEventKind.Queued,
        "attempt" => TraceEventKind.Attempt,
        "deferred" => TraceEventKind.Deferred,
        "delivered" => TraceEventKind.Delivered,
        "bounced" => TraceEventKind.Bounced,
        "expired" => TraceEventKind.Expired,
        "deleted" => TraceEventKind.Deleted,
        _ => throw new TraceStoreUnavailableException($"unknown event kind \"{name}\" in the trace database; is it from a newer Postern?"),
    };

    /// <summary>The certificate's DNS names as the store writes them: joined with ", ".</summary>
    internal static IReadOnlyList<string>? Names(string? stored) =>
        stored?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The TLS report over the events in [since, until).</summary>
    public TlsReport TlsReport(DateTimeOffset since, DateTimeOffset until, int reasonsPerRow = 3, int reasons = 10)
    {
        try
        {
            using SqliteCommand command = BuildReport(since, until);
            return Tracing.TlsReport.Build(command, since, until, reasonsPerRow, reasons);
        }
        catch (SqliteException e)
        {
            throw new TraceStoreUnavailableException($"cannot read the trace database {DatabasePath}: {e.Message}", e);
        }
    }

    internal SqliteCommand BuildReport(DateTimeOffset since, DateTimeOffset until)
    {
        SqliteCommand command = _connection.CreateCommand();
        // In time order (the index's order, no sort), so the last outcome of a recipient wins.
        command.CommandText = """
            SELECT queue_id, recipient, connector, kind, tls_protocol, verification, reply
            FROM events
            WHERE time >= $since AND time < $until AND kind IN ('delivered', 'deferred', 'bounced', 'expired')
            ORDER BY time, id
            """;
        command.Parameters.AddWithValue("$since", TraceTimes.ToUnixMs(since));
        command.Parameters.AddWithValue("$until", TraceTimes.ToUnixMs(until));
        return command;
    }

    /// <summary>How SQLite runs <see cref="Find"/> for <paramref name="filter"/> (EXPLAIN QUERY PLAN, one line per step).</summary>
    public IReadOnlyList<string> ExplainFind(TraceFilter filter)
    {
        using SqliteCommand command = BuildFind(filter);
        return Plan(command);
    }

    /// <summary>How SQLite runs <see cref="TlsReport"/> (EXPLAIN QUERY PLAN, one line per step).</summary>
    public IReadOnlyList<string> ExplainReport(DateTimeOffset since, DateTimeOffset until)
    {
        using SqliteCommand command = BuildReport(since, until);
        return Plan(command);
    }

    private static IReadOnlyList<string> Plan(SqliteCommand command)
    {
        using SqliteCommand explain = command.Connection!.CreateCommand();
        explain.CommandText = "EXPLAIN QUERY PLAN " + command.CommandText;
        foreach (SqliteParameter parameter in command.Parameters) explain.Parameters.AddWithValue(parameter.ParameterName, parameter.Value);
        var lines = new List<string>();
        using SqliteDataReader reader = explain.ExecuteReader();
        while (reader.Read()) lines.Add(reader.GetString(3));
        return lines;
    }

    public void Dispose() => _connection.Dispose();
}
