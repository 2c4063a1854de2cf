using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Postern.Tests.Support;
using Postern.Tracing;
using Xunit.Abstractions;

namespace Postern.Tests.Tracing;

/// <summary>The trace store on real SQLite files: what lands in <c>events</c> and <c>messages</c>, retention, the size bound, and that recording never waits.</summary>
public sealed class TraceStoreTests(ITestOutputHelper output) : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _directory = new("postern-trace");

    public void Dispose() => _directory.Dispose();

    private string DatabasePath => TraceStoreOptions.DatabasePath(_directory.Path);

    private TraceStore Open(Func<TraceStoreOptions, TraceStoreOptions>? customize = null)
    {
        var options = new TraceStoreOptions { Path = DatabasePath };
        return TraceStore.Open(customize is null ? options : customize(options), NullLogger.Instance);
    }

    private static TraceEvent Received(string queueId, DateTimeOffset time, string messageId = "m1@fabrikam.test") => new()
    {
        Time = time,
        Kind = TraceEventKind.Received,
        QueueId = queueId,
        MessageId = messageId,
        Sender = "alice@fabrikam.test",
        Connector = "Loopback",
        ClientAddress = "127.0.0.1",
        ClientName = "client.test",
        TlsProtocol = "TLSv1.3",
        TlsCipher = "TLS_AES_256_GCM_SHA384",
        Size = 1234,
        Reply = $"250 2.0.0 Ok: queued as {queueId}",
    };

    private static TraceEvent Outcome(TraceEventKind kind, string queueId, string recipient, DateTimeOffset time, string? messageId = null) => new()
    {
        Time = time,
        Kind = kind,
        QueueId = queueId,
        MessageId = messageId,
        Sender = "alice@fabrikam.test",
        Recipient = recipient,
        Connector = kind == TraceEventKind.Queued ? "Loopback" : "To Partner",
    };

    private Dictionary<string, object?> Message(string queueId) =>
        Assert.Single(TraceRows.Query(DatabasePath, "SELECT * FROM messages WHERE queue_id = $q", ("$q", queueId)));

    [Fact]
    public async Task Events_and_the_message_row_round_trip_with_every_field()
    {
        await using (TraceStore store = Open())
        {
            store.Record(Received("Q1", T0));
            store.Record(Outcome(TraceEventKind.Queued, "Q1", "bob@partner.test", T0, "m1@fabrikam.test"));
            store.Record(new TraceEvent
            {
                Time = T0.AddSeconds(1),
                Kind = TraceEventKind.Attempt,
                QueueId = "Q1",
                Sender = "alice@fabrikam.test",
                Connector = "To Partner",
                RemoteHost = "mx.partner.test",
                RemoteAddress = "192.0.2.25",
                TlsLevel = "DomainValidation",
                TlsProtocol = "TLSv1.2",
                TlsCipher = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                CertificateSubject = "CN=mx.partner.test",
                CertificateNames = ["mx.partner.test", "*.partner.test"],
                CertificateSha256 = "AB12",
                Verification = "Verified",
                Reply = "250 2.0.0 queued",
                DurationMs = 42,
            });
            store.Record(Outcome(TraceEventKind.Delivered, "Q1", "bob@partner.test", T0.AddSeconds(2)) with { Reply = "250 2.0.0 queued", DurationMs = 2000 });
        }

        List<Dictionary<string, object?>> events = TraceRows.Query(DatabasePath, "SELECT * FROM events ORDER BY id");
        Assert.Equal(["received", "queued", "attempt", "delivered"], events.Select(e => (string)e["kind"]!));
        Dictionary<string, object?> attempt = events[2];
        Assert.Equal(T0.AddSeconds(1).ToUnixTimeMilliseconds(), attempt["time"]);
        Assert.Equal("mx.partner.test", attempt["remote_host"]);
        Assert.Equal("192.0.2.25", attempt["remote_address"]);
        Assert.Equal("DomainValidation", attempt["tls_level"]);
        Assert.Equal("TLSv1.2", attempt["tls_protocol"]);
        Assert.Equal("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", attempt["tls_cipher"]);
        Assert.Equal("CN=mx.partner.test", attempt["certificate_subject"]);
        Assert.Equal("mx.partner.test, *.partner.test", attempt["certificate_names"]);
        Assert.Equal("AB12", attempt["certificate_sha256"]);
        Assert.Equal("Verified", attempt["verification"]);
        Assert.Equal(42L, attempt["duration_ms"]);
        // Delivery events get the Message-ID the message was received with.
        Assert.All(events, e => Assert.Equal("m1@fabrikam.test", e["message_id"]));
        Assert.Equal(1234L, events[0]["size"]);
        Assert.Equal("250 2.0.0 Ok: queued as Q1", events[0]["reply"]);

        Dictionary<string, object?> message = Message("Q1");
        Assert.Equal("delivered", message["status"]);
        Assert.Equal(T0.ToUnixTimeMilliseconds(), message["first_time"]);
        Assert.Equal(T0.AddSeconds(2).ToUnixTimeMilliseconds(), message["last_time"]);
        Assert.Equal("alice@fabrikam.test", message["sender"]);
        Assert.Equal("bob@partner.test", message["recipients"]);
        Assert.Equal("Loopback", message["connector"]);
        Assert.Equal("127.0.0.1", message["client_address"]);
        Assert.Equal(1234L, message["size"]);
        Assert.Equal(1L, TraceRows.Count(DatabasePath, "PRAGMA user_version"));
        Assert.Equal("wal", TraceRows.Query(DatabasePath, "PRAGMA journal_mode")[0].Values.Single());
    }

    [Fact]
    public async Task The_status_follows_each_recipient_through_a_partial_delivery()
    {
        string[] recipients = ["bob@partner.test", "carol@partner.test", "dave@partner.test"];
        await using TraceStore store = Open();
        async Task<string> StatusAfter(params TraceEvent[] events)
        {
            foreach (TraceEvent e in events) store.Record(e);
            await store.FlushAsync();
            return (string)Message("Q2")["status"]!;
        }

        Assert.Equal("received", await StatusAfter(Received("Q2", T0)));
        Assert.Equal("queued", await StatusAfter([.. recipients.Select(r => Outcome(TraceEventKind.Queued, "Q2", r, T0))]));
        Assert.Equal("bob@partner.test, carol@partner.test, dave@partner.test", Message("Q2")["recipients"]);
        // One delivered, one deferred, one not tried yet: it waits.
        Assert.Equal("deferred", await StatusAfter(
            Outcome(TraceEventKind.Delivered, "Q2", "bob@partner.test", T0.AddMinutes(1)),
            Outcome(TraceEventKind.Deferred, "Q2", "carol@partner.test", T0.AddMinutes(1))));
        Dictionary<string, object?> row = Message("Q2");
        Assert.Equal((3L, 2L, 1L, 0L), ((long)row["recipient_count"]!, (long)row["waiting_count"]!, (long)row["delivered_count"]!, (long)row["failed_count"]!));
        // The deferred one is delivered at the retry; dave has not been tried yet.
        Assert.Equal("queued", await StatusAfter(Outcome(TraceEventKind.Delivered, "Q2", "carol@partner.test", T0.AddMinutes(6))));
        // dave fails for good: nothing waits and one failed.
        Assert.Equal("bounced", await StatusAfter(Outcome(TraceEventKind.Bounced, "Q2", "DAVE@partner.test", T0.AddMinutes(7))));
        row = Message("Q2");
        Assert.Equal((3L, 0L, 2L, 1L), ((long)row["recipient_count"]!, (long)row["waiting_count"]!, (long)row["delivered_count"]!, (long)row["failed_count"]!));
        Assert.Equal(T0.AddMinutes(7).ToUnixTimeMilliseconds(), row["last_time"]);

        store.Record(Received("Q3", T0));
        store.Record(Outcome(TraceEventKind.Queued, "Q3", "bob@partner.test", T0));
        store.Record(Outcome(TraceEventKind.Deferred, "Q3", "bob@partner.test", T0.AddMinutes(1)));
        store.Record(Outcome(TraceEventKind.Expired, "Q3", "bob@partner.test", T0.AddDays(2)));
        store.Record(Received("Q4", T0));
        store.Record(Outcome(TraceEventKind.Queued, "Q4", "bob@partner.test", T0));
        store.Record(new TraceEvent { Time = T0.AddMinutes(1), Kind = TraceEventKind.Deleted, QueueId = "Q4", Detail = "deleted by the administrator" });
        store.Record(new TraceEvent { Time = T0, Kind = TraceEventKind.Rejected, QueueId = "Q5", Sender = "alice@fabrikam.test", Reply = "552 5.3.4 Message size exceeds fixed limit" });
        store.Record(new TraceEvent { Time = T0, Kind = TraceEventKind.Rejected, Sender = "mallory@evil.test", Reply = "550 5.7.1 refused" });
        await store.FlushAsync();
        Assert.Equal("expired", Message("Q3")["status"]);
        Assert.Equal("deleted", Message("Q4")["status"]);
        Assert.Equal("rejected", Message("Q5")["status"]);
        Assert.Equal(1L, TraceRows.Count(DatabasePath, "SELECT count(*) FROM events WHERE queue_id IS NULL AND kind = 'rejected'"));
    }

    [Fact]
    public async Task Record_never_waits_when_the_queue_is_full_and_counts_what_it_drops()
    {
        await using TraceStore store = Open(o => o with { Capacity = 100, BatchSize = 10 });
        // Hold the writer: an exclusive transaction from another connection keeps it waiting for the lock.
        using var blocker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        blocker.Open();
        using (var begin = blocker.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            begin.ExecuteNonQuery();
        }
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 100_000; i++) store.Record(Received($"Q{i}", T0));
        clock.Stop();
        using (var commit = blocker.CreateCommand())
        {
            commit.CommandText = "COMMIT";
            commit.ExecuteNonQuery();
        }
        output.WriteLine($"100000 Record calls against a stalled writer: {clock.Elapsed.TotalMilliseconds:F1} ms, {store.Dropped} dropped");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), clock.Elapsed.ToString());
        Assert.True(store.Dropped >= 100_000 - 1000, store.Dropped.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await store.FlushAsync();
        Assert.Equal(100_000, store.Dropped + store.Written);
    }

    [Fact]
    public async Task Retention_deletes_messages_whose_last_event_is_old_and_keeps_those_still_moving()
    {
        var clock = new FakeTimeProvider(T0);
        await using (TraceStore store = Open(o => o with { Retention = TimeSpan.FromDays(30), Time = clock }))
        {
            // Old and finished.
            store.Record(Received("OLD", T0.AddDays(-40)));
            store.Record(Outcome(TraceEventKind.Queued, "OLD", "bob@partner.test", T0.AddDays(-40)));
            store.Record(Outcome(TraceEventKind.Delivered, "OLD", "bob@partner.test", T0.AddDays(-39)));
            // Received long ago, but its last event is recent: all of it stays.
            store.Record(Received("LONG", T0.AddDays(-35)));
            store.Record(Outcome(TraceEventKind.Queued, "LONG", "bob@partner.test", T0.AddDays(-35)));
            store.Record(Outcome(TraceEventKind.Deferred, "LONG", "bob@partner.test", T0.AddDays(-1)));
            // A refusal with no queue id, old and recent.
            store.Record(new TraceEvent { Time = T0.AddDays(-31), Kind = TraceEventKind.Rejected, Reply = "550 5.7.1 old" });
            store.Record(new TraceEvent { Time = T0.AddDays(-29), Kind = TraceEventKind.Rejected, Reply = "550 5.7.1 recent" });
            store.Record(Received("NEW", T0));
            await store.MaintainAsync();
        }

        Assert.Equal(["LONG", "NEW"], TraceRows.Query(DatabasePath, "SELECT queue_id FROM messages ORDER BY queue_id").Select(r => (string)r["queue_id"]!));
        Assert.Equal(0, TraceRows.Count(DatabasePath, "SELECT count(*) FROM events WHERE queue_id = 'OLD'"));
        Assert.Equal(3, TraceRows.Count(DatabasePath, "SELECT count(*) FROM events WHERE queue_id = 'LONG'"));
        Assert.Equal(["550 5.7.1 recent"], TraceRows.Query(DatabasePath, "SELECT reply FROM events WHERE queue_id IS NULL").Select(r => (string)r["reply"]!));
    }

    [Fact]
    public async Task Retention_runs_at_start_and_then_every_interval()
    {
        var clock = new FakeTimeProvider(T0);
        await using (TraceStore store = Open(o => o with { Retention = TimeSpan.FromDays(1), Time = clock }))
        {
            store.Record(Received("A", T0.AddHours(-1)));
            await store.FlushAsync();
        }
        clock.Advance(TimeSpan.FromDays(2));
        await using (TraceStore store = Open(o => o with { Retention = TimeSpan.FromDays(1), Time = clock }))
        {
            await store.FlushAsync();
            Assert.Equal(0, TraceRows.Count(DatabasePath, "SELECT count(*) FROM messages"));
            store.Record(Received("B", clock.GetUtcNow()));
            await store.FlushAsync();
            clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
            await WaitUntilAsync(() => TraceRows.Count(DatabasePath, "SELECT count(*) FROM messages") == 0);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "not within 10 s");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Over_the_size_bound_the_oldest_messages_go_and_the_file_shrinks()
    {
        string padding = new('x', 2000);
        const int Messages = 4000;
        await using (TraceStore store = Open())
        {
            for (int i = 0; i < Messages; i++)
            {
                store.Record(Received($"Q{i:D5}", T0.AddSeconds(i)) with { Detail = padding });
                store.Record(Outcome(TraceEventKind.Queued, $"Q{i:D5}", "bob@partner.test", T0.AddSeconds(i)));
            }
            await store.FlushAsync();
        }
        long before = TraceRows.FileSize(DatabasePath);
        const long Bound = 4L * 1024 * 1024;
        Assert.True(before > 2 * Bound, $"{before} bytes to begin with");

        await using (TraceStore store = Open(o => o with { MaxSizeBytes = Bound }))
        {
            await store.MaintainAsync();
            long during = TraceRows.FileSize(DatabasePath);
            output.WriteLine($"size bound {Bound}: {before} bytes before, {during} after");
            Assert.True(during <= Bound, $"{during} bytes after the bound was applied");
            // The store keeps working after it shrank.
            store.Record(Received("LAST", T0.AddDays(1)));
            await store.FlushAsync();
        }

        long after = TraceRows.FileSize(DatabasePath);
        Assert.True(after <= Bound, $"{after} bytes after close");
        long kept = TraceRows.Count(DatabasePath, "SELECT count(*) FROM messages");
        Assert.InRange(kept, 100, Messages);
        // The newest are the ones kept, each with its events.
        Assert.Equal(kept - 1, TraceRows.Count(DatabasePath, $"SELECT count(*) FROM messages WHERE queue_id >= 'Q{Messages - kept + 1:D5}' AND queue_id < 'R'"));
        Assert.Equal(0, TraceRows.Count(DatabasePath, "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.queue_id = e.queue_id)"));
        Assert.Equal(1, TraceRows.Count(DatabasePath, "SELECT count(*) FROM messages WHERE queue_id = 'LAST'"));
    }

    [Fact]
    public async Task Many_writers_at_once_lose_nothing_below_capacity()
    {
        const int Writers = 16, PerWriter = 2000;
        await using (TraceStore store = Open())
        {
            await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(() =>
            {
                for (int i = 0; i < PerWriter; i++)
                {
                    string id = $"W{w:D2}-{i / 2:D5}";
                    store.Record(i % 2 == 0 ? Received(id, T0.AddMilliseconds(i)) : Outcome(TraceEventKind.Queued, id, $"r{w}@partner.test", T0.AddMilliseconds(i)));
                }
            })));
            await store.FlushAsync();
            Assert.Equal(0, store.Dropped);
            Assert.Equal(Writers * PerWriter, store.Written);
        }
        Assert.Equal(Writers * PerWriter, TraceRows.Count(DatabasePath, "SELECT count(*) FROM events"));
        Assert.Equal(Writers * PerWriter / 2, TraceRows.Count(DatabasePath, "SELECT count(*) FROM messages WHERE status = 'queued'"));
    }

    [Fact]
    public async Task Writer_throughput()
    {
        // A measurement more than a test: events per second the writer keeps, a typical relay mix
        // (received, queued, attempt with TLS facts, delivered), printed with the result.
        const int Messages = 25_000;
        await using TraceStore store = Open(o => o with { Capacity = Messages * 4 });
        // CPU time as well as wall time: on a shared, busy machine the wall clock says more about the neighbours.
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < Messages; i++)
        {
            string id = $"B{i:D6}";
            DateTimeOffset t = T0.AddMilliseconds(i);
            store.Record(Received(id, t, $"{i}@fabrikam.test"));
            store.Record(Outcome(TraceEventKind.Queued, id, "bob@partner.test", t, $"{i}@fabrikam.test"));
            store.Record(new TraceEvent
            {
                Time = t,
                Kind = TraceEventKind.Attempt,
                QueueId = id,
                Sender = "alice@fabrikam.test",
                Connector = "To Partner",
                RemoteHost = "mx.partner.test",
                RemoteAddress = "192.0.2.25",
                TlsLevel = "DomainValidation",
                TlsProtocol = "TLSv1.3",
                TlsCipher = "TLS_AES_256_GCM_SHA384",
                CertificateSubject = "CN=mx.partner.test",
                CertificateNames = ["mx.partner.test"],
                CertificateSha256 = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
                Verification = "Verified",
                Reply = "250 2.0.0 queued",
                DurationMs = 12,
            });
            store.Record(Outcome(TraceEventKind.Delivered, id, "bob@partner.test", t) with { Reply = "250 2.0.0 queued", DurationMs = 30 });
        }
        double recording = clock.Elapsed.TotalMilliseconds;
        await store.FlushAsync();
        clock.Stop();
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        double perSecond = Messages * 4 / clock.Elapsed.TotalSeconds;
        output.WriteLine($"trace writer: {Messages * 4} events ({Messages} messages) in {clock.Elapsed.TotalMilliseconds:F0} ms = {perSecond:F0} events/s, "
            + $"{Messages / clock.Elapsed.TotalSeconds:F0} messages/s; {cpu.TotalMilliseconds:F0} ms CPU = {Messages * 4 / cpu.TotalSeconds:F0} events per CPU second; "
            + $"Record calls took {recording:F0} ms in all");
        Assert.Equal(0, store.Dropped);
        Assert.Equal(Messages * 4, store.Written);
    }
}
