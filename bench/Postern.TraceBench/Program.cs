using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Postern.Tracing;

// How fast the trace answers over a large database: fills {dir}/trace/trace.db with EVENTS events
// (about a quarter as many messages, 30 days of traffic: most delivered at the first attempt over
// verified TLS, some deferred then delivered, some held by a connector's TLS policy, some bounced,
// some refused at the door), then times every `postern trace` filter and the TLS report, each
// with its query plan. Usage: Postern.TraceBench [EVENTS] [DIR] (an existing database is reused).
int target = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
string directory = args.Length > 1 ? args[1] : Path.Combine(Path.GetTempPath(), $"postern-tracebench-{Environment.ProcessId}");
string path = TraceQuery.PathFor(directory);
DateTimeOffset now = DateTimeOffset.UtcNow;

if (!File.Exists(path))
{
    var clock = Stopwatch.StartNew();
    (long events, long messages) = TraceBenchData.Fill(path, target, now);
    Console.WriteLine($"filled {path}: {events:N0} events, {messages:N0} messages in {clock.Elapsed.TotalSeconds:F1} s ({new FileInfo(path).Length / 1024.0 / 1024.0:F0} MiB)");
}
else
{
    Console.WriteLine($"reusing {path} ({new FileInfo(path).Length / 1024.0 / 1024.0:F0} MiB)");
}

string sample = TraceBenchData.SampleMessageId(path);
var cases = new (string Name, TraceFilter Filter)[]
{
    ("newest 100", new TraceFilter()),
    ("--message-id", new TraceFilter { MessageId = sample }),
    ("--sender (address)", new TraceFilter { Sender = "user17@corp.example" }),
    ("--sender *@domain (common)", new TraceFilter { Sender = "*@corp.example" }),
    ("--sender *@domain (rare)", new TraceFilter { Sender = "*@branch.example" }),
    ("--recipient (address)", new TraceFilter { Recipient = "user3@fabrikam.example" }),
    ("--recipient *@domain (common)", new TraceFilter { Recipient = "*@fabrikam.example" }),
    ("--recipient *@domain (rare)", new TraceFilter { Recipient = "*@domain199.example" }),
    ("--recipient *@domain (none)", new TraceFilter { Recipient = "*@nowhere.example" }),
    ("--since 1h", new TraceFilter { Since = now.AddHours(-1) }),
    ("--since 8d --until 7d", new TraceFilter { Since = now.AddDays(-8), Until = now.AddDays(-7) }),
    ("--until 20d", new TraceFilter { Until = now.AddDays(-20) }),
    ("--since 1d --recipient *@domain (rare)", new TraceFilter { Since = now.AddDays(-1), Recipient = "*@domain199.example" }),
    ("--status delivered", new TraceFilter { Status = "delivered" }),
    ("--status deferred", new TraceFilter { Status = "deferred" }),
    ("--status expired", new TraceFilter { Status = "expired" }),
    ("--status received (none)", new TraceFilter { Status = "received" }),
    ("--connector (common)", new TraceFilter { Connector = "Fabrikam" }),
    ("--connector (rare)", new TraceFilter { Connector = "Northwind" }),
    ("--connector (none)", new TraceFilter { Connector = "No such connector" }),
    ("--status deferred --connector", new TraceFilter { Status = "deferred", Connector = "Fabrikam" }),
    ("--recipient *@domain --details", new TraceFilter { Recipient = "*@fabrikam.example", Details = true }),
    ("--since 7d --limit 10000", new TraceFilter { Since = now.AddDays(-7), Limit = 10_000 }),
};

Measure("schema as created by TraceSchema.Create");
using (var writable = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
{
    writable.Open();
    using SqliteCommand create = writable.CreateCommand();
    create.CommandText = TraceQuery.RecommendedIndexes;
    var clock = Stopwatch.StartNew();
    create.ExecuteNonQuery();
    Console.WriteLine();
    Console.WriteLine($"TraceQuery.RecommendedIndexes created in {clock.Elapsed.TotalSeconds:F1} s ({new FileInfo(path).Length / 1024.0 / 1024.0:F0} MiB)");
}
Measure("with TraceQuery.RecommendedIndexes");

void Measure(string title)
{
    using TraceQuery trace = TraceQuery.OpenFile(path);
    Console.WriteLine();
    Console.WriteLine(title);
    Console.WriteLine($"{"query",-34} {"rows",6} {"median",9} {"max",9}  plan");
    foreach ((string name, TraceFilter filter) in cases)
    {
        int rows = 0;
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            rows = trace.Find(filter).Count;
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        Console.WriteLine($"{name,-34} {rows,6} {times[2],7:F1}ms {times[^1],7:F1}ms  {string.Join(" | ", trace.ExplainFind(filter))}");
    }
    foreach (int days in new[] { 1, 7, 30 })
    {
        var times = new List<double>();
        TlsReport report = null!;
        for (int i = 0; i < 3; i++)
        {
            var clock = Stopwatch.StartNew();
            report = trace.TlsReport(now.AddDays(-days), now);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        Console.WriteLine($"{$"report tls --since {days}d",-34} {report.Total.Recipients,6} {times[1],7:F1}ms {times[^1],7:F1}ms  {string.Join(" | ", trace.ExplainReport(now.AddDays(-days), now))}");
    }
}

if (args.Length <= 1) Directory.Delete(directory, recursive: true);

/// <summary>A realistic month of trace events, written through the schema as the store writes them.</summary>
internal static class TraceBenchData
{
    private static readonly string[] Connectors = ["Fabrikam", "Contoso", "Partners", "Northwind"];

    public static (long Events, long Messages) Fill(string path, int target, DateTimeOffset now)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        Execute(connection, "PRAGMA journal_mode = WAL");
        Execute(connection, TraceSchema.Create);
        Execute(connection, $"PRAGMA user_version = {TraceSchema.Version}");

        using SqliteTransaction transaction = connection.BeginTransaction();
        using SqliteCommand insertEvent = connection.CreateCommand();
        insertEvent.CommandText = """
            INSERT INTO events (time, kind, queue_id, message_id, sender, recipient, connector, client_address, client_name, remote_host, remote_address,
                tls_level, tls_protocol, tls_cipher, certificate_subject, certificate_names, certificate_sha256, verification, reply, duration_ms, size, detail)
            VALUES ($time, $kind, $queue_id, $message_id, $sender, $recipient, $connector, $client_address, $client_name, $remote_host, $remote_address,
                $tls_level, $tls_protocol, $tls_cipher, $certificate_subject, $certificate_names, $certificate_sha256, $verification, $reply, $duration_ms, $size, $detail)
            """;
        foreach (string name in new[] { "time", "kind", "queue_id", "message_id", "sender", "recipient", "connector", "client_address", "client_name", "remote_host", "remote_address",
            "tls_level", "tls_protocol", "tls_cipher", "certificate_subject", "certificate_names", "certificate_sha256", "verification", "reply", "duration_ms", "size", "detail" })
            insertEvent.Parameters.Add(new SqliteParameter("$" + name, null));
        using SqliteCommand insertMessage = connection.CreateCommand();
        insertMessage.CommandText = """
            INSERT INTO messages (queue_id, first_time, last_time, message_id, sender, recipients, connector, client_address, size, status)
            VALUES ($queue_id, $first_time, $last_time, $message_id, $sender, $recipients, $connector, $client_address, $size, $status)
            """;
        foreach (string name in new[] { "queue_id", "first_time", "last_time", "message_id", "sender", "recipients", "connector", "client_address", "size", "status" })
            insertMessage.Parameters.Add(new SqliteParameter("$" + name, null));

        var random = new Random(20261129);
        long start = now.AddDays(-30).ToUnixTimeMilliseconds();
        long span = now.ToUnixTimeMilliseconds() - start;
        long events = 0;
        long messages = 0;
        // Messages arrive in time order, as the writer sees them.
        while (events < target)
        {
            long received = start + Math.Min(span - 1, (long)(span * (events / (double)target)));
            string queueId = $"0Q{messages:D10}{random.Next(1000, 9999)}";
            string messageId = $"{Guid.NewGuid():N}@mail.corp.example";
            bool branch = random.Next(200) == 0;
            string sender = random.Next(50) == 0 ? "" : $"user{random.Next(branch ? 20 : 5000)}@{(branch ? "branch.example" : "corp.example")}";
            int count = random.Next(100) < 93 ? 1 : random.Next(2, 4);
            var recipients = new List<string>();
            for (int i = 0; i < count; i++) recipients.Add($"user{random.Next(2000)}@{Domain(random)}");
            long size = 2_000 + random.Next(200_000);
            string client = $"10.1.{random.Next(4)}.{random.Next(1, 250)}";

            // Door rejections (no queue id) now and then.
            if (random.Next(40) == 0)
            {
                Event(insertEvent, received - 5, "rejected", null, null, sender, $"user{random.Next(2000)}@{Domain(random)}", "Internal", client: client,
                    reply: "550 5.7.1 relay access denied");
                events++;
            }

            Event(insertEvent, received, "received", queueId, messageId, sender, null, "Internal", client: client, size: size);
            events++;
            long time = received + 2;
            foreach (string recipient in recipients)
            {
                Event(insertEvent, time, "queued", queueId, messageId, sender, recipient, "Internal");
                events++;
            }

            int fate = random.Next(1000);
            string status;
            var byDomain = recipients.GroupBy(r => r[(r.LastIndexOf('@') + 1)..]).ToArray();
            var statuses = new List<string>();
            foreach (var group in byDomain)
            {
                string domain = group.Key;
                string? connector = ConnectorOf(domain);
                string host = $"mx{random.Next(1, 3)}.{domain}";
                string address = $"192.0.2.{random.Next(1, 250)}";
                time += 200 + random.Next(3000);
                if (fate < 20)
                {
                    // Held by policy: the certificate is refused at every attempt until the message expires.
                    int attempts = 2 + random.Next(3);
                    for (int a = 0; a < attempts; a++)
                    {
                        string reply = $"454 4.7.5 certificate expired 2026-01-01 (connector \"{connector ?? "Partners"}\" (DomainValidation))";
                        Event(insertEvent, time, "attempt", queueId, messageId, sender, null, connector ?? "Partners", host: host, address: address, level: "DomainValidation",
                            protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", subject: $"CN={host}", names: $"[\"{host}\"]", verification: "Untrusted", reply: reply, duration: 80 + random.Next(300));
                        events++;
                        foreach (string recipient in group)
                        {
                            Event(insertEvent, time + 1, "deferred", queueId, messageId, sender, recipient, connector ?? "Partners", host: host, address: address, reply: reply, duration: time - received);
                            events++;
                        }
                        time += 600_000 * (a + 1);
                    }
                    bool expired = fate < 8;
                    if (expired)
                    {
                        foreach (string recipient in group)
                        {
                            Event(insertEvent, time, "expired", queueId, messageId, sender, recipient, connector ?? "Partners", reply: "451 4.4.7 message expired after 5 days in the queue", duration: time - received);
                            events++;
                        }
                    }
                    statuses.Add(expired ? "expired" : "deferred");
                }
                else if (fate < 40)
                {
                    Event(insertEvent, time, "attempt", queueId, messageId, sender, null, connector, host: host, address: address, level: "Opportunistic",
                        protocol: "TLSv1.2", cipher: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", subject: $"CN={host}", verification: "Trusted", reply: "550 5.1.1 user unknown", duration: 90 + random.Next(200));
                    events++;
                    foreach (string recipient in group)
                    {
                        Event(insertEvent, time + 1, "bounced", queueId, messageId, sender, recipient, connector, host: host, address: address, reply: "550 5.1.1 user unknown", duration: time - received);
                        events++;
                    }
                    statuses.Add("bounced");
                }
                else
                {
                    if (fate < 120)
                    {
                        // Deferred once: the first host refused the connection.
                        string reply = $"451 4.4.1 {host}[{address}]:25: cannot connect to {address}:25: connection refused";
                        Event(insertEvent, time, "attempt", queueId, messageId, sender, null, connector, host: host, address: address, level: "Opportunistic", reply: reply, duration: 3 + random.Next(20));
                        events++;
                        foreach (string recipient in group)
                        {
                            Event(insertEvent, time + 1, "deferred", queueId, messageId, sender, recipient, connector, host: host, address: address, reply: reply, duration: time - received);
                            events++;
                        }
                        time += 300_000;
                    }
                    (string? protocol, string? verification) = fate switch
                    {
                        < 140 => (null, null),
                        < 220 => ("TLSv1.2", "Anonymous"),
                        < 300 => ("TLSv1.3", "Untrusted"),
                        < 600 => ("TLSv1.3", "Trusted"),
                        _ => ("TLSv1.3", "Verified"),
                    };
                    string cipher = protocol == "TLSv1.3" ? "TLS_AES_256_GCM_SHA384" : "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256";
                    string? sha = protocol is null ? null : Convert.ToHexString(BitConverter.GetBytes(host.GetHashCode())).PadRight(64, 'A');
                    string ok = $"250 2.0.0 Ok: queued as {random.Next():X}";
                    Event(insertEvent, time, "attempt", queueId, messageId, sender, null, connector, host: host, address: address, level: connector is null ? "Opportunistic" : "DomainValidation",
                        protocol: protocol, cipher: protocol is null ? null : cipher, subject: protocol is null ? null : $"CN={host}", names: protocol is null ? null : $"[\"{host}\",\"{domain}\"]",
                        sha: sha, verification: verification, reply: ok, duration: 60 + random.Next(400));
                    events++;
                    foreach (string recipient in group)
                    {
                        Event(insertEvent, time + 1, "delivered", queueId, messageId, sender, recipient, connector, host: host, address: address,
                            protocol: protocol, cipher: protocol is null ? null : cipher, subject: protocol is null ? null : $"CN={host}", sha: sha, verification: verification, reply: ok, duration: time - received);
                        events++;
                    }
                    statuses.Add("delivered");
                }
            }
            status = statuses.Contains("deferred") ? "deferred" : statuses.Contains("expired") ? "expired" : statuses.Contains("bounced") ? "bounced" : "delivered";
            if (fate >= 998)
            {
                Event(insertEvent, time + 10, "deleted", queueId, messageId, sender, null, null, detail: "root");
                events++;
                status = "deleted";
            }

            Set(insertMessage, "queue_id", queueId);
            Set(insertMessage, "first_time", received);
            Set(insertMessage, "last_time", time + 10);
            Set(insertMessage, "message_id", messageId);
            Set(insertMessage, "sender", sender);
            Set(insertMessage, "recipients", string.Join(", ", recipients));
            Set(insertMessage, "connector", "Internal");
            Set(insertMessage, "client_address", client);
            Set(insertMessage, "size", size);
            Set(insertMessage, "status", status);
            insertMessage.ExecuteNonQuery();
            messages++;
        }
        transaction.Commit();
        Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
        return (events, messages);
    }

    /// <summary>A third of the mail to fabrikam.example, the rest spread over 200 domains, the first ones busiest.</summary>
    private static string Domain(Random random)
    {
        int pick = random.Next(100);
        if (pick < 30) return "fabrikam.example";
        if (pick < 45) return "contoso.example";
        if (pick < 47) return "northwind.example";
        int rank = (int)Math.Min(199, Math.Floor(Math.Pow(random.NextDouble(), 3) * 200));
        return $"domain{rank}.example";
    }

    private static string? ConnectorOf(string domain) => domain switch
    {
        "fabrikam.example" => "Fabrikam",
        "contoso.example" => "Contoso",
        "northwind.example" => "Northwind",
        _ when domain.StartsWith("domain1", StringComparison.Ordinal) => "Partners",
        _ => null,
    };

    public static string SampleMessageId(string path)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT message_id FROM messages ORDER BY first_time LIMIT 1 OFFSET 1000";
        return (string)command.ExecuteScalar()!;
    }

    private static void Event(SqliteCommand insert, long time, string kind, string? queueId, string? messageId, string? sender, string? recipient, string? connector,
        string? client = null, string? host = null, string? address = null, string? level = null, string? protocol = null, string? cipher = null,
        string? subject = null, string? names = null, string? sha = null, string? verification = null, string? reply = null, long? duration = null, long? size = null, string? detail = null)
    {
        Set(insert, "time", time);
        Set(insert, "kind", kind);
        Set(insert, "queue_id", queueId);
        Set(insert, "message_id", messageId);
        Set(insert, "sender", sender);
        Set(insert, "recipient", recipient);
        Set(insert, "connector", connector);
        Set(insert, "client_address", client);
        Set(insert, "client_name", client is null ? null : "relay.corp.example");
        Set(insert, "remote_host", host);
        Set(insert, "remote_address", address);
        Set(insert, "tls_level", level);
        Set(insert, "tls_protocol", protocol);
        Set(insert, "tls_cipher", cipher);
        Set(insert, "certificate_subject", subject);
        Set(insert, "certificate_names", names);
        Set(insert, "certificate_sha256", sha);
        Set(insert, "verification", verification);
        Set(insert, "reply", reply);
        Set(insert, "duration_ms", duration);
        Set(insert, "size", size);
        Set(insert, "detail", detail);
        insert.ExecuteNonQuery();
    }

    private static void Set(SqliteCommand command, string name, object? value) => command.Parameters["$" + name].Value = value ?? DBNull.Value;

    private static void Execute(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
