using Microsoft.Data.Sqlite;

namespace Postern.Tests.Tracing;

/// <summary>Reads a trace database the way a query tool would: its own read-only connection, rows as dictionaries.</summary>
internal static class TraceRows
{
    public static List<Dictionary<string, object?>> Query(string path, string sql, params (string Name, object Value)[] parameters)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        foreach ((string name, object value) in parameters) command.Parameters.AddWithValue(name, value);
        using SqliteDataReader reader = command.ExecuteReader();
        var rows = new List<Dictionary<string, object?>>();
        while (reader.Read())
        {
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            for (int i = 0; i < reader.FieldCount; i++) row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    public static long Count(string path, string sql) => (long)Query(path, sql)[0].Values.Single()!;

    /// <summary>The database file and its write-ahead log.</summary>
    public static long FileSize(string path) =>
        (File.Exists(path) ? new FileInfo(path).Length : 0) + (File.Exists(path + "-wal") ? new FileInfo(path + "-wal").Length : 0);
}
