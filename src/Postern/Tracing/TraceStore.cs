using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Postern.Configuration;

namespace Postern.Tracing;

/// <summary>How a <see cref="TraceStore"/> keeps its database.</summary>
public sealed record TraceStoreOptions
{
    /// <summary>The database file, <c>{dataDirectory}/trace/trace.db</c> for the gateway.</summary>
    public required string Path { get; init; }
    /// <summary>A message's trace is deleted once its last event is older than this.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(30);
    /// <summary>Bound on the database file and its write-ahead log together.</summary>
    public long MaxSizeBytes { get; init; } = 1024L * 1024 * 1024;
    /// <summary>Events waiting for the writer; beyond this, new events are dropped and counted.</summary>
    public int Capacity { get; init; } = 65_536;
    /// <summary>Events written in one transaction at most.</summary>
    public int BatchSize { get; init; } = 1000;
    /// <summary>
    /// How long the writer lets events gather before a transaction when fewer than a batch are
    /// waiting: a busy gateway then writes a few large transactions a second instead of one per
    /// message, which costs SQLite much less. A flush request is answered without it.
    /// </summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>How often retention runs (also once at start).</summary>
    public TimeSpan RetentionInterval { get; init; } = TimeSpan.FromHours(1);
    /// <summary>How often the size is checked against <see cref="MaxSizeBytes"/>.</summary>
    public TimeSpan SizeCheckInterval { get; init; } = TimeSpan.FromMinutes(1);
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The gateway's options from <c>gateway.trace</c>.</summary>
    public static TraceStoreOptions For(string dataDirectory, TraceSettings settings) => new()
    {
        Path = DatabasePath(dataDirectory),
        Retention = TimeSpan.FromDays(settings.RetentionDays),
        MaxSizeBytes = settings.MaxSizeMegabytes * 1024L * 1024,
    };

    /// <summary>Where the gateway keeps the trace database.</summary>
    public static string DatabasePath(string dataDirectory) => System.IO.Path.Combine(dataDirectory, "trace", "trace.db");
}

/// <summary>
/// The message trace in SQLite (<see cref="TraceSchema"/>). <see cref="Record"/> only queues the
/// event; one writer takes what has arrived, up to a batch, and writes it in one transaction:
/// the events, then each touched message's row recomputed from its events. The same writer runs
/// retention and the size bound between batches, so the database has one writer only.
/// </summary>
public sealed class TraceStore : ITraceSink, IAsyncDisposable
{
    private const int ChunkSize = 2000;
    /// <summary>Summaries of recently active messages kept in memory, so a batch need not read their events back.</summary>
    private const int RecentMessages = 20_000;

    private static readonly TraceEvent Tick = new() { Time = DateTimeOffset.UnixEpoch, Kind = TraceEventKind.Received };

    private readonly TraceStoreOptions _options;
    private readonly ILogger _logger;
    private readonly SqliteConnection _connection;
    private readonly Channel<TraceEvent> _channel;
    private readonly ConcurrentDictionary<TraceEvent, Request> _requests = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, MessageSummary> _recent = new(StringComparer.Ordinal);
    private readonly ITimer _ticker;
    private readonly Task _writer;
    private readonly SqliteCommand _insertEvent;
    private readonly SqliteCommand _messageEvents;
    private readonly SqliteCommand _upsertMessage;
    private readonly SqliteCommand _fillMessageId;
    private long _dropped;
    private long _droppedReported;
    private long _written;
    private long _failed;
    private DateTimeOffset _nextRetention = DateTimeOffset.MinValue;
    private DateTimeOffset _nextSizeCheck = DateTimeOffset.MinValue;
    private DateTimeOffset _nextDropReport = DateTimeOffset.MinValue;
    private int _disposed;

    private TraceStore(TraceStoreOptions options, SqliteConnection connection, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _connection = connection;
        _channel = Channel.CreateBounded<TraceEvent>(new BoundedChannelOptions(options.Capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _insertEvent = Prepare(InsertEventSql);
        _messageEvents = Prepare(MessageEventsSql);
        _upsertMessage = Prepare(UpsertMessageSql);
        _fillMessageId = Prepare("UPDATE events SET message_id = $message_id WHERE queue_id = $queue_id AND message_id IS NULL");
        _writer = Task.Run(WriteLoopAsync);
        // Wakes an idle writer so that retention and the size bound run without traffic.
        _ticker = options.Time.CreateTimer(_ => _channel.Writer.TryWrite(Tick), null, options.SizeCheckInterval, options.SizeCheckInterval);
    }

    /// <summary>The database file.</summary>
    public string Path => _options.Path;

    /// <summary>Events dropped because the writer was behind (or the store closed).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Events written to the database.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Events lost to a failed write (a full disk, a damaged file).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Opens (or creates) the database and starts the writer.</summary>
    /// <exception cref="SqliteException">The file cannot be opened as a trace database.</exception>
    /// <exception cref="InvalidOperationException">The database was made by a newer Postern.</exception>
    public static TraceStore Open(TraceStoreOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(options.Path))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = options.Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        try
        {
            connection.Open();
            CreateSchema(connection, options.Path);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
        TraceLog.Opened(logger, options.Path, (int)options.Retention.TotalDays, options.MaxSizeBytes / (1024 * 1024));
        return new TraceStore(options, connection, logger);
    }

    private static void CreateSchema(SqliteConnection connection, string path)
    {
        long version = Scalar(connection, "PRAGMA user_version");
        if (version > TraceSchema.Version)
            throw new InvalidOperationException($"{path} has trace schema version {version}, newer than this Postern's {TraceSchema.Version}");
        // Incremental auto-vacuum lets the size bound give pages back to the file system; it has to
        // be chosen before the first table exists (or be applied by one VACUUM).
        Execute(connection, "PRAGMA auto_vacuum = INCREMENTAL");
        if (Scalar(connection, "PRAGMA auto_vacuum") != 2) Execute(connection, "VACUUM");
        Execute(connection, "PRAGMA journal_mode = WAL");
        Execute(connection, "PRAGMA synchronous = NORMAL");
        // A checkpoint (copying the log into the file, with an fsync) every 16 MB of log rather than
        // SQLite's 4 MB, and 16 MB of pages cached for the indexes every event updates.
        Execute(connection, "PRAGMA wal_autocheckpoint = 4000");
        Execute(connection, "PRAGMA cache_size = -16384");
        // A write-ahead log that grew during a large deletion is cut back to this after a checkpoint.
        Execute(connection, "PRAGMA journal_size_limit = 16777216");
        using (SqliteTransaction transaction = connection.BeginTransaction())
        {
            using SqliteCommand create = connection.CreateCommand();
            create.Transaction = transaction;
            create.CommandText = TraceSchema.Create;
            create.ExecuteNonQuery();
            create.CommandText = $"PRAGMA user_version = {TraceSchema.Version}";
            create.ExecuteNonQuery();
            transaction.Commit();
        }
    }

    /// <inheritdoc/>
    public void Record(TraceEvent traceEvent)
    {
        if (!_channel.Writer.TryWrite(traceEvent)) Interlocked.Increment(ref _dropped);
    }

    /// <summary>Completes once every event recorded before the call is written (or dropped).</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => RequestAsync(maintain: false, cancellationToken);

    /// <summary>Runs retention and the size bound now, after the events recorded before the call.</summary>
    public Task MaintainAsync(CancellationToken cancellationToken = default) => RequestAsync(maintain: true, cancellationToken);

    private async Task RequestAsync(bool maintain, CancellationToken cancellationToken)
    {
        var marker = new TraceEvent { Time = DateTimeOffset.UnixEpoch, Kind = TraceEventKind.Received };
        var request = new Request(maintain);
        _requests[marker] = request;
        try
        {
            await _channel.Writer.WriteAsync(marker, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            _requests.TryRemove(marker, out _);
            return;
        }
        await request.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        ChannelReader<TraceEvent> reader = _channel.Reader;
        var batch = new List<TraceEvent>(_options.BatchSize);
        var answered = new List<Request>();
        Maintain(force: false);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (_options.Linger > TimeSpan.Zero && reader.Count < _options.BatchSize && _requests.IsEmpty)
                await Task.Delay(_options.Linger).ConfigureAwait(false);
            bool maintain = false;
            while (batch.Count < _options.BatchSize && reader.TryRead(out TraceEvent? item))
            {
                if (ReferenceEquals(item, Tick)) continue;
                if (!_requests.IsEmpty && _requests.TryRemove(item, out Request? request))
                {
                    answered.Add(request);
                    maintain |= request.Maintain;
                    continue;
                }
                batch.Add(item);
            }
            if (batch.Count > 0)
            {
                WriteBatch(batch);
                batch.Clear();
            }
            Maintain(maintain);
            foreach (Request request in answered) request.Done.TrySetResult();
            answered.Clear();
        }
    }

    private void WriteBatch(List<TraceEvent> batch)
    {
        try
        {
            using SqliteTransaction transaction = _connection.BeginTransaction();
            _insertEvent.Transaction = transaction;
            _messageEvents.Transaction = transaction;
            _upsertMessage.Transaction = transaction;
            _fillMessageId.Transaction = transaction;
            var touched = new Dictionary<string, List<TraceEvent>>(StringComparer.Ordinal);
            HashSet<string>? missingMessageId = null;
            foreach (TraceEvent e in batch)
            {
                string? messageId = e.MessageId;
                if (e.QueueId is { } queueId)
                {
                    if (!touched.TryGetValue(queueId, out List<TraceEvent>? events)) touched[queueId] = events = [];
                    events.Add(e);
                    messageId ??= _recent.GetValueOrDefault(queueId)?.MessageId;
                    if (messageId is null) (missingMessageId ??= new(StringComparer.Ordinal)).Add(queueId);
                }
                Insert(e, messageId);
            }
            foreach ((string queueId, List<TraceEvent> events) in touched)
                UpdateMessage(queueId, events, missingMessageId?.Contains(queueId) == true);
            transaction.Commit();
            Interlocked.Add(ref _written, batch.Count);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever went wrong, the writer goes on with the next batch: one bad batch must not
            // end the trace for the rest of the process. What the cache holds may not have reached
            // the database.
            _recent.Clear();
            Interlocked.Add(ref _failed, batch.Count);
            TraceLog.WriteFailed(_logger, batch.Count, e.Message);
        }
    }

    private const string InsertEventSql = """
        INSERT INTO events (time, kind, queue_id, message_id, sender, recipient, connector, client_address, client_name,
            remote_host, remote_address, tls_level, tls_protocol, tls_cipher, certificate_subject, certificate_names,
            certificate_sha256, verification, reply, duration_ms, size, detail)
        VALUES ($time, $kind, $queue_id, $message_id, $sender, $recipient, $connector, $client_address, $client_name,
            $remote_host, $remote_address, $tls_level, $tls_protocol, $tls_cipher, $certificate_subject, $certificate_names,
            $certificate_sha256, $verification, $reply, $duration_ms, $size, $detail)
        """;

    private void Insert(TraceEvent e, string? messageId)
    {
        SqliteParameterCollection p = _insertEvent.Parameters;
        p[0].Value = e.Time.ToUnixTimeMilliseconds();
        p[1].Value = TraceSchema.KindName(e.Kind);
        p[2].Value = (object?)e.QueueId ?? DBNull.Value;
        p[3].Value = (object?)messageId ?? DBNull.Value;
        p[4].Value = (object?)e.Sender ?? DBNull.Value;
        p[5].Value = (object?)e.Recipient ?? DBNull.Value;
        p[6].Value = (object?)e.Connector ?? DBNull.Value;
        p[7].Value = (object?)e.ClientAddress ?? DBNull.Value;
        p[8].Value = (object?)e.ClientName ?? DBNull.Value;
        p[9].Value = (object?)e.RemoteHost ?? DBNull.Value;
        p[10].Value = (object?)e.RemoteAddress ?? DBNull.Value;
        p[11].Value = (object?)e.TlsLevel ?? DBNull.Value;
        p[12].Value = (object?)e.TlsProtocol ?? DBNull.Value;
        p[13].Value = (object?)e.TlsCipher ?? DBNull.Value;
        p[14].Value = (object?)e.CertificateSubject ?? DBNull.Value;
        p[15].Value = e.CertificateNames is { Count: > 0 } names ? string.Join(", ", names) : DBNull.Value;
        p[16].Value = (object?)e.CertificateSha256 ?? DBNull.Value;
        p[17].Value = (object?)e.Verification ?? DBNull.Value;
        p[18].Value = (object?)e.Reply ?? DBNull.Value;
        p[19].Value = (object?)e.DurationMs ?? DBNull.Value;
        p[20].Value = (object?)e.Size ?? DBNull.Value;
        p[21].Value = (object?)e.Detail ?? DBNull.Value;
        _insertEvent.ExecuteNonQuery();
    }

    private const string MessageEventsSql = """
        SELECT time, kind, message_id, sender, recipient, connector, client_address, size
        FROM events WHERE queue_id = $queue_id ORDER BY id
        """;

    private const string UpsertMessageSql = """
        INSERT INTO messages (queue_id, first_time, last_time, message_id, sender, recipients, connector, client_address, size, status,
            recipient_count, waiting_count, delivered_count, failed_count)
        VALUES ($queue_id, $first_time, $last_time, $message_id, $sender, $recipients, $connector, $client_address, $size, $status,
            $recipient_count, $waiting_count, $delivered_count, $failed_count)
        ON CONFLICT (queue_id) DO UPDATE SET
            first_time = excluded.first_time, last_time = excluded.last_time, message_id = excluded.message_id,
            sender = excluded.sender, recipients = excluded.recipients, connector = excluded.connector,
            client_address = excluded.client_address, size = excluded.size, status = excluded.status,
            recipient_count = excluded.recipient_count, waiting_count = excluded.waiting_count,
            delivered_count = excluded.delivered_count, failed_count = excluded.failed_count
        """;

    /// <summary>
    /// Brings one message's row up to date: its summary, kept for recently active messages, takes
    /// this batch's events; otherwise it is folded again from all the message's events (a handful
    /// per recipient), so the row is right whatever order restarts bring events in.
    /// </summary>
    private void UpdateMessage(string queueId, List<TraceEvent> events, bool missingMessageId)
    {
        if (_recent.TryGetValue(queueId, out MessageSummary? summary))
        {
            foreach (TraceEvent e in events) summary.Add(e);
        }
        else
        {
            // A message's first event is its Received: then there is nothing older to read back.
            summary = events[0].Kind == TraceEventKind.Received ? new MessageSummary() : Load(queueId);
            if (events[0].Kind == TraceEventKind.Received)
            {
                foreach (TraceEvent e in events) summary.Add(e);
            }
            if (_recent.Count >= RecentMessages) _recent.Clear();
            _recent[queueId] = summary;
        }
        if (summary.FirstTime is null) return;

        SqliteParameterCollection p = _upsertMessage.Parameters;
        p[0].Value = queueId;
        p[1].Value = summary.FirstTime;
        p[2].Value = summary.LastTime;
        p[3].Value = (object?)summary.MessageId ?? DBNull.Value;
        p[4].Value = (object?)summary.Sender ?? DBNull.Value;
        p[5].Value = string.Join(", ", summary.Recipients);
        p[6].Value = (object?)summary.Connector ?? DBNull.Value;
        p[7].Value = (object?)summary.ClientAddress ?? DBNull.Value;
        p[8].Value = (object?)summary.Size ?? DBNull.Value;
        p[9].Value = summary.Status;
        p[10].Value = summary.Recipients.Count;
        p[11].Value = summary.Waiting;
        p[12].Value = summary.Delivered;
        p[13].Value = summary.Failed;
        _upsertMessage.ExecuteNonQuery();

        if (missingMessageId && summary.MessageId is { } messageId)
        {
            _fillMessageId.Parameters[0].Value = messageId;
            _fillMessageId.Parameters[1].Value = queueId;
            _fillMessageId.ExecuteNonQuery();
        }
    }

    private MessageSummary Load(string queueId)
    {
        var summary = new MessageSummary();
        _messageEvents.Parameters[0].Value = queueId;
        using SqliteDataReader row = _messageEvents.ExecuteReader();
        while (row.Read())
        {
            summary.Add(row.GetInt64(0), row.GetString(1), Text(row, 2), Text(row, 3), Text(row, 4), Text(row, 5), Text(row, 6),
                row.IsDBNull(7) ? null : row.GetInt64(7));
        }
        return summary;
    }

    private static string? Text(SqliteDataReader row, int ordinal) => row.IsDBNull(ordinal) ? null : row.GetString(ordinal);

    private void Maintain(bool force)
    {
        DateTimeOffset now = _options.Time.GetUtcNow();
        ReportDrops(now);
        try
        {
            if (force || now >= _nextRetention)
            {
                _nextRetention = now + _options.RetentionInterval;
                DeleteExpired(now);
            }
            if (force || now >= _nextSizeCheck)
            {
                _nextSizeCheck = now + _options.SizeCheckInterval;
                EnforceSize();
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            TraceLog.MaintenanceFailed(_logger, e.Message);
        }
    }

    private void ReportDrops(DateTimeOffset now, bool force = false)
    {
        long dropped = Dropped;
        if (dropped == _droppedReported || (now < _nextDropReport && !force)) return;
        TraceLog.Dropped(_logger, dropped - _droppedReported);
        _droppedReported = dropped;
        _nextDropReport = now + TimeSpan.FromMinutes(1);
    }

    /// <summary>
    /// Retention: a message goes with all its events once its last event is older than the
    /// retention, so a message that is still moving keeps its whole history.
    /// </summary>
    private void DeleteExpired(DateTimeOffset now)
    {
        long cutoff = (now - _options.Retention).ToUnixTimeMilliseconds();
        long messages = 0, events = 0;
        while (true)
        {
            (long m, long e) = DeleteChunk(
                "SELECT queue_id FROM messages WHERE last_time < $cutoff ORDER BY last_time LIMIT $chunk",
                "SELECT id FROM events WHERE queue_id IS NULL AND time < $cutoff ORDER BY time LIMIT $chunk",
                cutoff, ChunkSize);
            messages += m;
            events += e;
            if (m == 0 && e == 0) break;
        }
        if (messages + events == 0) return;
        Compact();
        TraceLog.Expired(_logger, messages, events, (int)_options.Retention.TotalDays);
    }

    /// <summary>
    /// The size bound: the oldest messages (with their events) and the oldest events of no message
    /// go first, in chunks, until the live pages fit in 90% of the bound; then the freed pages are
    /// given back to the file system.
    /// </summary>
    private void EnforceSize()
    {
        long size = FileSize();
        if (size <= _options.MaxSizeBytes) return;
        long target = _options.MaxSizeBytes / 10 * 9;
        long messages = 0, events = 0;
        while (LiveBytes() is var live && live > target)
        {
            // As many of the oldest as should free the excess, judged by their share of the rows.
            long oldestMessage = Scalar(_connection, "SELECT coalesce(min(last_time), 9223372036854775807) FROM messages");
            long oldestLoose = Scalar(_connection, "SELECT coalesce(min(time), 9223372036854775807) FROM events WHERE queue_id IS NULL");
            bool messagesFirst = oldestMessage <= oldestLoose;
            long rows = Scalar(_connection, messagesFirst ? "SELECT count(*) FROM messages" : "SELECT count(*) FROM events WHERE queue_id IS NULL");
            long chunk = Math.Clamp(rows * (live - target) / live + 1, 1, ChunkSize);
            (long m, long e) = messagesFirst
                ? DeleteChunk("SELECT queue_id FROM messages ORDER BY last_time LIMIT $chunk", null, 0, chunk)
                : DeleteChunk(null, "SELECT id FROM events WHERE queue_id IS NULL ORDER BY time LIMIT $chunk", 0, chunk);
            messages += m;
            events += e;
            if (m == 0 && e == 0) break;
        }
        Compact();
        TraceLog.Shrunk(_logger, size, _options.MaxSizeBytes, messages, events, FileSize());
    }

    /// <summary>Deletes one chunk in one transaction: the selected messages with their events, and the selected loose events.</summary>
    private (long Messages, long Events) DeleteChunk(string? selectMessages, string? selectLooseEvents, long cutoff, long chunk)
    {
        using SqliteTransaction transaction = _connection.BeginTransaction();
        using SqliteCommand command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.Parameters.AddWithValue("$cutoff", cutoff);
        command.Parameters.AddWithValue("$chunk", chunk);
        long events = 0, messages = 0;
        if (selectMessages is not null)
        {
            command.CommandText = $"CREATE TEMP TABLE IF NOT EXISTS doomed (queue_id TEXT PRIMARY KEY); DELETE FROM temp.doomed; INSERT INTO temp.doomed {selectMessages}";
            command.ExecuteNonQuery();
            command.CommandText = "DELETE FROM events WHERE queue_id IN (SELECT queue_id FROM temp.doomed)";
            events += command.ExecuteNonQuery();
            command.CommandText = "DELETE FROM messages WHERE queue_id IN (SELECT queue_id FROM temp.doomed)";
            messages = command.ExecuteNonQuery();
        }
        if (selectLooseEvents is not null)
        {
            command.CommandText = $"DELETE FROM events WHERE id IN ({selectLooseEvents})";
            events += command.ExecuteNonQuery();
        }
        transaction.Commit();
        return (messages, events);
    }

    /// <summary>Gives free pages back to the file system and empties the write-ahead log.</summary>
    private void Compact()
    {
        _recent.Clear();
        Execute(_connection, "PRAGMA incremental_vacuum");
        // TRUNCATE waits for readers (a running `postern trace`) up to the busy timeout; if one
        // holds on, the log is emptied at a later checkpoint.
        Execute(_connection, "PRAGMA wal_checkpoint(TRUNCATE)");
    }

    private long LiveBytes() =>
        (Scalar(_connection, "PRAGMA page_count") - Scalar(_connection, "PRAGMA freelist_count")) * Scalar(_connection, "PRAGMA page_size");

    /// <summary>The database file and its write-ahead log, as the file system counts them.</summary>
    private long FileSize() => Length(_options.Path) + Length(_options.Path + "-wal");

    private static long Length(string path)
    {
        var file = new FileInfo(path);
        return file.Exists ? file.Length : 0;
    }

    private SqliteCommand Prepare(string sql)
    {
        SqliteCommand command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (string name in ParameterNames(sql)) command.Parameters.Add(new SqliteParameter(name, null));
        command.Prepare();
        return command;
    }

    /// <summary>The <c>$name</c> parameters of a statement, in order of first appearance.</summary>
    private static List<string> ParameterNames(string sql)
    {
        var names = new List<string>();
        for (int i = 0; i < sql.Length; i++)
        {
            if (sql[i] != '$') continue;
            int end = i + 1;
            while (end < sql.Length && (char.IsAsciiLetterOrDigit(sql[end]) || sql[end] == '_')) end++;
            string name = sql[i..end];
            if (!names.Contains(name)) names.Add(name);
            i = end - 1;
        }
        return names;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Writes what is queued and closes the database (at the gateway's stop).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _ticker.DisposeAsync().ConfigureAwait(false);
        _channel.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        foreach (Request request in _requests.Values) request.Done.TrySetResult();
        ReportDrops(_options.Time.GetUtcNow(), force: true);
        _insertEvent.Dispose();
        _messageEvents.Dispose();
        _upsertMessage.Dispose();
        _fillMessageId.Dispose();
        _connection.Dispose();
        TraceLog.Closed(_logger, _options.Path, Written, Dropped);
    }

    private sealed class Request(bool maintain)
    {
        public bool Maintain { get; } = maintain;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
