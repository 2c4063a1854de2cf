using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Tracing;

namespace Postern.Tests.Tracing;

/// <summary>
/// A real trace database (<c>{dataDirectory}/trace/trace.db</c>, WAL), filled by the gateway's
/// own <see cref="TraceStore"/>, with a connection of its own for tests that change it further.
/// </summary>
internal sealed class TraceDatabase : IDisposable
{
    private readonly SqliteConnection _connection;

    public TraceDatabase(string dataDirectory)
    {
        DataDirectory = dataDirectory;
        Path = TraceQuery.PathFor(dataDirectory);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        // The store creates the schema as the gateway does.
        TraceStore.Open(Options, NullLogger.Instance).DisposeAsync().AsTask().GetAwaiter().GetResult();
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        _connection.Open();
    }

    public string DataDirectory { get; }

    public string Path { get; }

    public SqliteConnection Connection => _connection;

    private TraceStoreOptions Options => new() { Path = Path };

    /// <summary>Records the events through the store, in the order given, and waits until they are written.</summary>
    public void Add(IEnumerable<TraceEvent> events)
    {
        TraceStore store = TraceStore.Open(Options, NullLogger.Instance);
        try
        {
            foreach (TraceEvent e in events) store.Record(e);
            store.FlushAsync().GetAwaiter().GetResult();
            if (store.Dropped != 0 || store.Failed != 0) throw new InvalidOperationException($"the store dropped {store.Dropped} and failed {store.Failed} event(s)");
        }
        finally
        {
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>The status the store derived for a message.</summary>
    public string? Status(string queueId)
    {
        using SqliteCommand command = _connection.CreateCommand();
        command.CommandText = "SELECT status FROM messages WHERE queue_id = $queue_id";
        command.Parameters.AddWithValue("$queue_id", queueId);
        return command.ExecuteScalar() as string;
    }

    public void Execute(string sql)
    {
        using SqliteCommand command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose() => _connection.Dispose();
}
