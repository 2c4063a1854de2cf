using Microsoft.Data.Sqlite;
using Postern.Tests.Support;
using Postern.Tracing;
using static Postern.Tests.Tracing.TraceStory;

namespace Postern.Tests.Tracing;

/// <summary><see cref="TraceQuery"/> over a real SQLite file written through the schema.</summary>
public sealed class TraceQueryTests : IDisposable
{
    private readonly TempDirectory _directory = new("postern-trace");
    private readonly TraceDatabase _database;
    private readonly DateTimeOffset _now;

    public TraceQueryTests()
    {
        _database = new TraceDatabase(_directory.Combine("var"));
        _now = Seed(_database);
    }

    public void Dispose()
    {
        _database.Dispose();
        _directory.Dispose();
    }

    private string[] Find(TraceFilter filter)
    {
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);
        return trace.Find(filter).Messages.Select(m => m.QueueId).ToArray();
    }

    [Fact]
    public void Without_a_filter_every_message_newest_latest_event_first()
    {
        Assert.Equal([M6, M5, M8, M4, M3, M2, M1, M7], Find(new TraceFilter()));
    }

    [Fact]
    public void A_summary_row_has_the_message_facts()
    {
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);
        TraceMessage m2 = trace.Find(new TraceFilter { MessageId = "m2@corp.example" }).Messages.Single();

        Assert.Equal(M2, m2.QueueId);
        Assert.Equal("deferred", m2.Status);
        Assert.Equal("Carol@Corp.Example", m2.Sender);
        Assert.Equal(["dave@contoso.example", "erin@fabrikam.example"], m2.Recipients);
        Assert.Equal("Internal", m2.Connector);
        Assert.Equal("10.1.2.3", m2.ClientAddress);
        Assert.Equal(4096, m2.Size);
        Assert.Equal(_now.AddDays(-2), m2.FirstTime);
        Assert.Equal(_now.AddDays(-2).AddMinutes(31).AddMilliseconds(5), m2.LastTime);
        Assert.Null(m2.Events);
    }

    [Theory]
    [InlineData("m1@corp.example")]
    [InlineData("<m1@corp.example>")]
    public void Message_id_with_or_without_angle_brackets(string messageId)
    {
        Assert.Equal([M1], Find(new TraceFilter { MessageId = messageId }));
        Assert.Empty(Find(new TraceFilter { MessageId = "M1@corp.example" }));
    }

    [Theory]
    [InlineData("carol@corp.example", new[] { M2 })]
    [InlineData("CAROL@CORP.EXAMPLE", new[] { M2 })]
    [InlineData("<alice@corp.example>", new[] { M6, M3, M1, M7 })]
    [InlineData("*@corp.example", new[] { M6, M8, M3, M2, M1, M7 })]
    [InlineData("@Branch.Example", new[] { M5 })]
    [InlineData("*@orp.example", new string[0])]
    [InlineData("<>", new[] { M4 })]
    [InlineData("", new[] { M4 })]
    [InlineData("alice@corp", new string[0])]
    public void Sender_exactly_case_insensitively_or_by_domain(string sender, string[] expected)
    {
        Assert.Equal(expected, Find(new TraceFilter { Sender = sender }));
    }

    [Theory]
    [InlineData("ERIN@fabrikam.example", new[] { M2 })]
    [InlineData("bob@fabrikam.example", new[] { M1, M7 })]
    [InlineData("*@fabrikam.example", new[] { M5, M8, M2, M1, M7 })]
    [InlineData("@CONTOSO.example", new[] { M4, M2 })]
    [InlineData("*@abrikam.example", new string[0])]
    [InlineData("*@example", new string[0])]
    [InlineData("x@fabrikam.example", new string[0])]
    public void Recipient_exactly_case_insensitively_or_by_domain(string recipient, string[] expected)
    {
        Assert.Equal(expected, Find(new TraceFilter { Recipient = recipient }));
    }

    [Fact]
    public void Since_and_until_bound_the_latest_event()
    {
        Assert.Equal([M6, M5, M8, M4], Find(new TraceFilter { Since = _now.AddHours(-12) }));
        Assert.Equal([M2, M1, M7], Find(new TraceFilter { Until = _now.AddDays(-1) }));
        Assert.Equal([M3, M2], Find(new TraceFilter { Since = _now.AddDays(-2.5), Until = _now.AddHours(-12) }));
        Assert.Empty(Find(new TraceFilter { Since = _now.AddMinutes(-1) }));
    }

    [Theory]
    [InlineData("deferred", new[] { M6, M2 })]
    [InlineData("delivered", new[] { M3, M1, M7 })]
    [InlineData("bounced", new[] { M4 })]
    [InlineData("expired", new[] { M5 })]
    [InlineData("deleted", new[] { M8 })]
    [InlineData("queued", new string[0])]
    public void Status(string status, string[] expected)
    {
        Assert.Equal(expected, Find(new TraceFilter { Status = status }));
    }

    [Theory]
    [InlineData("Fabrikam", new[] { M5, M2, M1, M7 })]
    [InlineData("contoso", new[] { M4, M2 })]
    [InlineData("Internal", new[] { M6, M5, M8, M4, M3, M2, M1, M7 })]
    [InlineData("Nobody", new string[0])]
    public void Connector_inbound_or_outbound_case_insensitively(string connector, string[] expected)
    {
        Assert.Equal(expected, Find(new TraceFilter { Connector = connector }));
    }

    [Fact]
    public void Filters_combine()
    {
        Assert.Equal([M3, M1], Find(new TraceFilter { Sender = "*@corp.example", Status = "delivered", Since = _now.AddDays(-7) }));
        Assert.Equal([M2], Find(new TraceFilter { Recipient = "*@fabrikam.example", Connector = "Contoso" }));
        Assert.Equal([M1], Find(new TraceFilter { Recipient = "bob@fabrikam.example", Since = _now.AddDays(-7), Connector = "Fabrikam" }));
    }

    [Fact]
    public void The_limit_keeps_the_newest_and_says_there_are_more()
    {
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);

        TraceResult two = trace.Find(new TraceFilter { Limit = 2 });
        TraceResult eight = trace.Find(new TraceFilter { Limit = 8 });

        Assert.Equal([M6, M5], two.Messages.Select(m => m.QueueId));
        Assert.True(two.More);
        Assert.Equal(2, two.Count);
        Assert.Equal(8, eight.Count);
        Assert.False(eight.More);
    }

    [Fact]
    public void Details_give_every_event_in_time_order_with_its_TLS_facts()
    {
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);

        TraceMessage m2 = trace.Find(new TraceFilter { MessageId = "m2@corp.example", Details = true }).Messages.Single();

        Assert.Equal(
            [TraceEventKind.Received, TraceEventKind.Queued, TraceEventKind.Queued, TraceEventKind.Attempt, TraceEventKind.Delivered,
                TraceEventKind.Attempt, TraceEventKind.Deferred, TraceEventKind.Attempt, TraceEventKind.Deferred],
            m2.Events!.Select(e => e.Kind));
        Assert.Equal(m2.Events!.Select(e => e.Time).Order(), m2.Events!.Select(e => e.Time));
        TraceEvent delivered = m2.Events![4];
        Assert.Equal("dave@contoso.example", delivered.Recipient);
        Assert.Equal("TLSv1.2", delivered.TlsProtocol);
        Assert.Equal("Untrusted", delivered.Verification);
        TraceEvent refused = m2.Events![5];
        Assert.Equal("mx.fabrikam.example", refused.RemoteHost);
        Assert.Equal("192.0.2.4", refused.RemoteAddress);
        Assert.Equal("DomainValidation", refused.TlsLevel);
        Assert.Equal("CN=mx.fabrikam.example", refused.CertificateSubject);
        Assert.Equal(["mx.fabrikam.example", "fabrikam.example"], refused.CertificateNames);
        Assert.Equal(FabrikamSha, refused.CertificateSha256);
        Assert.Equal(CertificateExpired, refused.Reply);
        Assert.Equal(95, refused.DurationMs);
        Assert.Equal(4096, m2.Events![0].Size);
        Assert.Equal("relay.corp.example", m2.Events![0].ClientName);
    }

    [Fact]
    public void Certificate_names_read_back_as_the_store_wrote_them()
    {
        _database.Add([new TraceEvent
        {
            Time = _now, Kind = TraceEventKind.Attempt, QueueId = "0QLIST", RemoteHost = "mx.list.example", TlsProtocol = "TLSv1.3",
            CertificateNames = ["mx.list.example", "list.example"],
        }]);
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);

        Assert.Equal(["mx.list.example", "list.example"], trace.Events("0QLIST").Single().CertificateNames);
    }

    [Fact]
    public void Filter_problems_are_reported_in_words()
    {
        Assert.Equal(["unknown status \"sent\": expected one of received, queued, deferred, delivered, bounced, expired, deleted, rejected"],
            new TraceFilter { Status = "sent" }.Problems());
        Assert.Contains("limit 0 is out of range: expected 1 to 10000", new TraceFilter { Limit = 0 }.Problems());
        Assert.Contains(new TraceFilter { Since = _now, Until = _now.AddHours(-1) }.Problems(), p => p.StartsWith("until (", StringComparison.Ordinal));
        Assert.Contains("sender \"*@\": expected an address, or *@domain for every address at a domain", new TraceFilter { Sender = "*@" }.Problems());
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);
        Assert.Throws<ArgumentException>(() => trace.Find(new TraceFilter { Status = "sent" }));
    }

    [Fact]
    public void Values_are_parameters_never_SQL()
    {
        string hostile = "x' OR 1=1 --";

        Assert.Empty(Find(new TraceFilter { Sender = hostile }));
        Assert.Empty(Find(new TraceFilter { Recipient = "*@" + hostile }));
        Assert.Empty(Find(new TraceFilter { Connector = hostile, MessageId = hostile }));
        Assert.Empty(Find(new TraceFilter { Recipient = "*@%" }));
        Assert.Empty(Find(new TraceFilter { Sender = "*@_orp.example" }));
    }

    [Fact]
    public void Without_a_database_it_says_where_it_looked()
    {
        string elsewhere = _directory.Combine("elsewhere");

        var e = Assert.Throws<TraceStoreUnavailableException>(() => TraceQuery.Open(elsewhere));

        Assert.Equal($"no trace database at {Path.Combine(elsewhere, "trace", "trace.db")} (the gateway creates it when it records its first event)", e.Message);
        Assert.False(File.Exists(Path.Combine(elsewhere, "trace", "trace.db")));
    }

    [Fact]
    public void A_file_that_is_not_a_trace_database_is_named()
    {
        string other = _directory.Combine("other");
        Directory.CreateDirectory(Path.Combine(other, "trace"));
        File.WriteAllText(TraceQuery.PathFor(other), "not SQLite at all, and long enough to be read as a header by SQLite: " + new string('x', 200));

        var e = Assert.Throws<TraceStoreUnavailableException>(() => TraceQuery.Open(other));

        Assert.StartsWith($"cannot read the trace database {TraceQuery.PathFor(other)}: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reads_while_a_writer_holds_an_open_transaction_and_sees_only_what_is_committed()
    {
        using var writer = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _database.Path, Pooling = false }.ToString());
        writer.Open();
        using SqliteTransaction transaction = writer.BeginTransaction();
        using (SqliteCommand insert = writer.CreateCommand())
        {
            insert.CommandText = "INSERT INTO messages (queue_id, first_time, last_time, sender, recipients, status) VALUES ('0QUNCOMMITTED', $t, $t, 'zed@corp.example', 'z@x.example', 'queued')";
            insert.Parameters.AddWithValue("$t", _now.ToUnixTimeMilliseconds());
            insert.ExecuteNonQuery();
        }

        string[] during = Find(new TraceFilter { Sender = "zed@corp.example" });
        transaction.Commit();
        string[] after = Find(new TraceFilter { Sender = "zed@corp.example" });

        Assert.Empty(during);
        Assert.Equal(["0QUNCOMMITTED"], after);
    }

    [Fact]
    public void Opening_read_only_writes_nothing()
    {
        _database.Execute("PRAGMA wal_checkpoint(TRUNCATE)");
        _database.Dispose();
        File.SetAttributes(_database.Path, FileAttributes.ReadOnly);
        try
        {
            Assert.Equal(8, Find(new TraceFilter()).Length);
        }
        finally
        {
            File.SetAttributes(_database.Path, FileAttributes.Normal);
        }
    }

    [Theory]
    [MemberData(nameof(Filters))]
    public void Each_filter_is_served_by_an_index(string name, TraceFilter filter)
    {
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);

        IReadOnlyList<string> plan = trace.ExplainFind(filter);

        Assert.All(plan, step => Assert.False(step.StartsWith("SCAN", StringComparison.Ordinal) && !step.Contains(" USING ", StringComparison.Ordinal),
            $"{name}: {string.Join(" | ", plan)}"));
        Assert.Contains(plan, step => step.Contains("USING INDEX", StringComparison.Ordinal) || step.Contains("USING PRIMARY KEY", StringComparison.Ordinal)
            || step.Contains("USING COVERING INDEX", StringComparison.Ordinal));
    }

    public static TheoryData<string, TraceFilter> Filters()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return new TheoryData<string, TraceFilter>
        {
            { "none", new TraceFilter() },
            { "message-id", new TraceFilter { MessageId = "m1@corp.example" } },
            { "sender", new TraceFilter { Sender = "alice@corp.example" } },
            { "sender domain", new TraceFilter { Sender = "*@corp.example" } },
            { "recipient", new TraceFilter { Recipient = "bob@fabrikam.example" } },
            { "recipient domain", new TraceFilter { Recipient = "*@fabrikam.example" } },
            { "since", new TraceFilter { Since = now.AddDays(-1) } },
            { "since until", new TraceFilter { Since = now.AddDays(-2), Until = now.AddDays(-1) } },
            { "status", new TraceFilter { Status = "deferred" } },
            { "connector", new TraceFilter { Connector = "Fabrikam" } },
            { "details", new TraceFilter { Recipient = "*@fabrikam.example", Details = true } },
        };
    }

    [Fact]
    public void The_report_reads_the_window_through_the_covering_index_or_the_time_index_without_it()
    {
        using (TraceQuery trace = TraceQuery.Open(_database.DataDirectory))
        {
            Assert.Equal(["SEARCH events USING COVERING INDEX events_outcomes (time>? AND time<?)"], trace.ExplainReport(_now.AddDays(-7), _now));
        }

        // A database made before the schema had the index.
        _database.Execute("DROP INDEX events_outcomes");
        using (TraceQuery trace = TraceQuery.Open(_database.DataDirectory))
        {
            Assert.Equal(["SEARCH events USING INDEX events_time (time>? AND time<?)"], trace.ExplainReport(_now.AddDays(-7), _now));
            Assert.Equal(7, trace.TlsReport(_now.AddDays(-7), _now.AddSeconds(1)).Total.Recipients);
        }
    }

    [Fact]
    public void With_the_recommended_indexes_the_connector_filter_and_the_report_use_them_and_answer_the_same()
    {
        _database.Execute(TraceQuery.RecommendedIndexes);
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);

        IReadOnlyList<string> plan = trace.ExplainFind(new TraceFilter { Connector = "Fabrikam" });

        Assert.Contains(plan, step => step.Contains("USING COVERING INDEX events_connector", StringComparison.Ordinal));
        Assert.Equal([M5, M2, M1, M7], Find(new TraceFilter { Connector = "Fabrikam" }));
        Assert.Equal(["SEARCH events USING COVERING INDEX events_outcomes (time>? AND time<?)"], trace.ExplainReport(_now.AddDays(-7), _now));
        Assert.Equal(7, trace.TlsReport(_now.AddDays(-7), _now.AddSeconds(1)).Total.Recipients);
    }
}
