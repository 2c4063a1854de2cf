using Microsoft.Data.Sqlite;
using Postern.Tracing;

namespace Postern.Tests.Tracing;

/// <summary>
/// A real trace database (<c>{dataDirectory}/trace/trace.db</c>, WAL) written through
/// <see cref="TraceSchema.Create"/>: events as the store writes them and the messages rows it keeps.
/// </summary>
internal sealed class TraceDatabase : IDisposable
{
    private readonly SqliteConnection _connection;

    public TraceDatabase(string dataDirectory)
    {
        DataDirectory = dataDirectory;
        Path = TraceQuery.PathFor(dataDirectory);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        _connection.Open();
        Execute("PRAGMA journal_mode = WAL");
        Execute(TraceSchema.Create);
        Execute($"PRAGMA user_version = {TraceSchema.Version}");
    }

    public string DataDirectory { get; }

    public string Path { get; }

    public SqliteConnection Connection => _connection;

    /// <summary>Writes events; certificate names as a JSON array unless <paramref name="namesAsList"/>.</summary>
    public void Add(IEnumerable<TraceEvent> events, bool namesAsList = false)
    {
        using SqliteTransaction transaction = _connection.BeginTransaction();
        using SqliteCommand insert = _connection.CreateCommand();
        insert.CommandText = """
            INSERT INTO events (time, kind, queue_id, message_id, sender, recipient, connector, client_address, client_name, remote_host, remote_address,
                tls_level, tls_protocol, tls_cipher, certificate_subject, certificate_names, certificate_sha256, verification, reply, duration_ms, size, detail)
            VALUES ($time, $kind, $queue_id, $message_id, $sender, $recipient, $connector, $client_address, $client_name, $remote_host, $remote_address,
                $tls_level, $tls_protocol, $tls_cipher, $certificate_subject, $certificate_names, $certificate_sha256, $verification, $reply, $duration_ms, $size, $detail)
            """;
        foreach (TraceEvent e in events)
        {
            insert.Parameters.Clear();
            Set(insert, "time", e.Time.ToUnixTimeMilliseconds());
            Set(insert, "kind", TraceSchema.KindName(e.Kind));
            Set(insert, "queue_id", e.QueueId);
            Set(insert, "message_id", e.MessageId);
            Set(insert, "sender", e.Sender);
            Set(insert, "recipient", e.Recipient);
            Set(insert, "connector", e.Connector);
            Set(insert, "client_address", e.ClientAddress);
            Set(insert, "client_name", e.ClientName);
            Set(insert, "remote_host", e.RemoteHost);
            Set(insert, "remote_address", e.RemoteAddress);
            Set(insert, "tls_level", e.TlsLevel);
            Set(insert, "tls_protocol", e.TlsProtocol);
            Set(insert, "tls_cipher", e.TlsCipher);
            Set(insert, "certificate_subject", e.CertificateSubject);
            Set(insert, "certificate_names", e.CertificateNames is null ? null
                : namesAsList ? string.Join(", ", e.CertificateNames)
                : System.Text.Json.JsonSerializer.Serialize(e.CertificateNames.ToArray(), TraceJsonContext.Default.StringArray));
            Set(insert, "certificate_sha256", e.CertificateSha256);
            Set(insert, "verification", e.Verification);
            Set(insert, "reply", e.Reply);
            Set(insert, "duration_ms", e.DurationMs);
            Set(insert, "size", e.Size);
            Set(insert, "detail", e.Detail);
            insert.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    /// <summary>Writes the messages row of <paramref name="queueId"/> from its events, as the store keeps it (recipients in envelope order).</summary>
    public void Summarize(string queueId, string status, IReadOnlyList<string> recipients)
    {
        using SqliteCommand command = _connection.CreateCommand();
        command.CommandText = """
            INSERT OR REPLACE INTO messages (queue_id, first_time, last_time, message_id, sender, recipients, connector, client_address, size, status)
            SELECT $queue_id, min(time), max(time),
                (SELECT message_id FROM events WHERE queue_id = $queue_id AND kind = 'received'),
                (SELECT sender FROM events WHERE queue_id = $queue_id AND kind = 'received'),
                $recipients,
                (SELECT connector FROM events WHERE queue_id = $queue_id AND kind = 'received'),
                (SELECT client_address FROM events WHERE queue_id = $queue_id AND kind = 'received'),
                (SELECT size FROM events WHERE queue_id = $queue_id AND kind = 'received'),
                $status
            FROM events WHERE queue_id = $queue_id
            """;
        command.Parameters.AddWithValue("$queue_id", queueId);
        command.Parameters.AddWithValue("$status", status);
        command.Parameters.AddWithValue("$recipients", string.Join(", ", recipients));
        command.ExecuteNonQuery();
    }

    public void Execute(string sql)
    {
        using SqliteCommand command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static void Set(SqliteCommand command, string name, object? value) => command.Parameters.AddWithValue("$" + name, value ?? DBNull.Value);

    public void Dispose() => _connection.Dispose();
}
