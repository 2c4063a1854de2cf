using Postern.Tests.Support;
using Postern.Tracing;
using static Postern.Tests.Tracing.TraceStory;

namespace Postern.Tests.Tracing;

/// <summary>The TLS report over a real trace database: each recipient counted once, by its last outcome.</summary>
public sealed class TlsReportTests : IDisposable
{
    private readonly TempDirectory _directory = new("postern-trace");
    private readonly TraceDatabase _database;
    private readonly DateTimeOffset _now;

    public TlsReportTests()
    {
        _database = new TraceDatabase(_directory.Combine("var"));
        _now = Seed(_database);
    }

    public void Dispose()
    {
        _database.Dispose();
        _directory.Dispose();
    }

    private TlsReport Report(TimeSpan window)
    {
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);
        return trace.TlsReport(_now - window, _now.AddSeconds(1));
    }

    [Fact]
    public void Counts_verified_unverified_plain_held_and_failed_per_domain_and_connector()
    {
        TlsReport report = Report(TimeSpan.FromDays(7));

        TlsReportRow fabrikam = Assert.Single(report.Rows, r => r.Domain == "fabrikam.example");
        Assert.Equal("Fabrikam", fabrikam.Connector);
        Assert.Equal((1, 0, 0, 2, 0), (fabrikam.Verified, fabrikam.Unverified, fabrikam.NoTls, fabrikam.Held, fabrikam.Failed));
        TlsReportRow contoso = Assert.Single(report.Rows, r => r.Domain == "contoso.example");
        Assert.Equal("Contoso", contoso.Connector);
        Assert.Equal((0, 1, 0, 0, 1), (contoso.Verified, contoso.Unverified, contoso.NoTls, contoso.Held, contoso.Failed));
        TlsReportRow plain = Assert.Single(report.Rows, r => r.Domain == "plain.example");
        Assert.Null(plain.Connector);
        Assert.Equal((0, 0, 1, 0, 0), (plain.Verified, plain.Unverified, plain.NoTls, plain.Held, plain.Failed));
        TlsReportRow northwind = Assert.Single(report.Rows, r => r.Domain == "northwind.example");
        Assert.Equal((0, 0, 0, 0, 1), (northwind.Verified, northwind.Unverified, northwind.NoTls, northwind.Held, northwind.Failed));
        Assert.Equal(4, report.Rows.Count);
        Assert.Equal((1, 1, 1, 2, 2), (report.Total.Verified, report.Total.Unverified, report.Total.NoTls, report.Total.Held, report.Total.Failed));
        Assert.Equal(7, report.Total.Recipients);
        Assert.Equal("fabrikam.example", report.Rows[0].Domain);
    }

    [Fact]
    public void Reasons_are_grouped_without_the_host_and_connector_and_policy_refusals_are_marked()
    {
        TlsReport report = Report(TimeSpan.FromDays(7));

        Assert.Equal(
            [
                ("451 4.4.1 cannot connect to 192.0.2.9:25: connection refused", 1, false),
                ("454 4.7.4 TLS is required by connector \"Fabrikam\" (DomainValidation) but mx.fabrikam.example did not offer STARTTLS", 1, true),
                ("454 4.7.5 certificate expired 2026-01-01", 1, true),
                ("550 5.1.1 user unknown", 1, false),
            ],
            report.Reasons.Select(r => (r.Reason, r.Count, r.Policy)));
        TlsReportRow fabrikam = report.Rows.Single(r => r.Domain == "fabrikam.example");
        Assert.Equal(2, fabrikam.Reasons.Count);
        Assert.All(fabrikam.Reasons, r => Assert.True(r.Policy));
    }

    [Fact]
    public void The_same_reason_for_many_recipients_is_one_line_with_their_count()
    {
        var events = new List<TraceEvent>();
        for (int i = 0; i < 5; i++)
        {
            events.Add(new TraceEvent
            {
                Time = _now.AddMinutes(-i),
                Kind = TraceEventKind.Deferred,
                QueueId = $"0QMANY{i}",
                Recipient = $"u{i}@fabrikam.example",
                Connector = "Fabrikam",
                Reply = $"454 4.7.5 certificate expired 2026-01-01 (connector \"Fabrikam\" (DomainValidation))",
            });
        }
        _database.Add(events);

        TlsReport report = Report(TimeSpan.FromHours(1));

        TlsReportReason reason = Assert.Single(report.Reasons, r => r.Reason.StartsWith("454 4.7.5", StringComparison.Ordinal));
        Assert.Equal(("454 4.7.5 certificate expired 2026-01-01", 5, true), (reason.Reason, reason.Count, reason.Policy));
        Assert.Equal(report.Reasons[0], reason);
        Assert.Equal(5, report.Rows.Single(r => r.Domain == "fabrikam.example").Held);
    }

    [Fact]
    public void A_recipient_delivered_after_being_held_counts_as_delivered_once()
    {
        _database.Add([
            new TraceEvent
            {
                Time = _now.AddMinutes(-1), Kind = TraceEventKind.Delivered, QueueId = M2, Recipient = "ERIN@fabrikam.example", Connector = "Fabrikam",
                RemoteHost = "mx.fabrikam.example", TlsProtocol = "TLSv1.3", Verification = "Trusted", Reply = "250 2.0.0 Ok",
            },
        ]);

        TlsReport report = Report(TimeSpan.FromDays(7));

        TlsReportRow fabrikam = report.Rows.Single(r => r.Domain == "fabrikam.example");
        Assert.Equal((2, 1), (fabrikam.Verified, fabrikam.Held));
        Assert.Equal(7, report.Total.Recipients);
    }

    [Fact]
    public void The_window_decides_which_outcomes_count()
    {
        TlsReport day = Report(TimeSpan.FromDays(1));
        TlsReport month = Report(TimeSpan.FromDays(30));

        Assert.Equal((0, 0, 1, 1, 2), (day.Total.Verified, day.Total.Unverified, day.Total.NoTls, day.Total.Held, day.Total.Failed));
        Assert.Equal(2, month.Total.Verified);
        Assert.Equal(8, month.Total.Recipients);
    }

    [Fact]
    public void An_empty_window_has_no_rows()
    {
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);

        TlsReport report = trace.TlsReport(_now.AddYears(-2), _now.AddYears(-1));

        Assert.Empty(report.Rows);
        Assert.Empty(report.Reasons);
        Assert.Equal(0, report.Total.Recipients);
    }

    [Theory]
    [InlineData("454 4.7.5 certificate expired 2026-01-01 (connector \"Fabrikam\" (DomainValidation))", "454 4.7.5 certificate expired 2026-01-01")]
    [InlineData("454 4.7.5 no name matched (defaultOutbound (DomainValidation))", "454 4.7.5 no name matched")]
    [InlineData("451 4.4.1 mx1.example[192.0.2.1]:25: cannot connect to 192.0.2.1:25: connection refused", "451 4.4.1 cannot connect to 192.0.2.1:25: connection refused")]
    [InlineData("451 4.4.2 mx1.example[2001:db8::1]:25: timed out", "451 4.4.2 timed out")]
    [InlineData("550 5.1.1 user unknown", "550 5.1.1 user unknown")]
    [InlineData("421 service not available", "421 service not available")]
    [InlineData("something odd", "something odd")]
    [InlineData(null, "no reply recorded")]
    public void A_reason_is_the_reply_without_its_host_and_connector(string? reply, string reason)
    {
        Assert.Equal(reason, TlsReport.ReasonOf(reply));
    }

    [Theory]
    [InlineData("454 4.7.5 certificate expired", true)]
    [InlineData("454 4.7.4 TLS is required", true)]
    [InlineData("451 4.7.1 greylisted", false)]
    [InlineData("550 5.7.5 refused", false)]
    [InlineData("454 4.7.50 x", false)]
    [InlineData(null, false)]
    public void Policy_refusals_are_4_7_4_and_4_7_5(string? reply, bool policy)
    {
        Assert.Equal(policy, TlsReport.IsPolicyRefusal(reply));
    }

    [Fact]
    public void Fifty_thousand_events_are_counted_exactly()
    {
        // Large enough to cross many pages and batches, small enough for every CI run; no time is asserted.
        var events = new List<TraceEvent>(50_000);
        DateTimeOffset start = _now.AddHours(-20);
        for (int i = 0; i < 12_500; i++)
        {
            string id = $"0QBULK{i:D8}";
            string recipient = $"user{i}@bulk{i % 10}.example";
            DateTimeOffset t = start.AddSeconds(i * 5);
            events.Add(new TraceEvent { Time = t, Kind = TraceEventKind.Received, QueueId = id, Sender = "bulk@corp.example", Connector = "Internal", MessageId = $"{id}@corp.example" });
            events.Add(new TraceEvent { Time = t.AddMilliseconds(1), Kind = TraceEventKind.Queued, QueueId = id, Recipient = recipient });
            bool held = i % 10 == 0;
            events.Add(new TraceEvent
            {
                Time = t.AddMilliseconds(2),
                Kind = TraceEventKind.Attempt,
                QueueId = id,
                Connector = "Bulk",
                RemoteHost = "mx.bulk.example",
                TlsProtocol = i % 4 == 0 ? null : "TLSv1.3",
                Verification = i % 4 == 0 ? null : i % 4 == 1 ? "Verified" : "Anonymous",
                Reply = held ? CertificateExpired : "250 2.0.0 Ok",
            });
            events.Add(held
                ? new TraceEvent { Time = t.AddMilliseconds(3), Kind = TraceEventKind.Deferred, QueueId = id, Recipient = recipient, Connector = "Bulk", Reply = CertificateExpired }
                : new TraceEvent
                {
                    Time = t.AddMilliseconds(3),
                    Kind = TraceEventKind.Delivered,
                    QueueId = id,
                    Recipient = recipient,
                    Connector = "Bulk",
                    RemoteHost = "mx.bulk.example",
                    TlsProtocol = i % 4 == 0 ? null : "TLSv1.3",
                    Verification = i % 4 == 0 ? null : i % 4 == 1 ? "Verified" : "Anonymous",
                    Reply = "250 2.0.0 Ok",
                });
        }
        _database.Add(events);
        using TraceQuery trace = TraceQuery.Open(_database.DataDirectory);

        TlsReport report = trace.TlsReport(start.AddSeconds(-1), _now.AddSeconds(1));
        TraceResult deferred = trace.Find(new TraceFilter { Status = "deferred", Recipient = "*@bulk0.example", Limit = TraceFilter.MaxLimit });
        TraceResult one = trace.Find(new TraceFilter { Recipient = "user12345@bulk5.example", Details = true });

        // i % 10 == 0: held (1,250); of the rest, i % 4 == 0 plain, 1 verified, 2 and 3 unverified.
        int plain = Enumerable.Range(0, 12_500).Count(i => i % 10 != 0 && i % 4 == 0);
        int verified = Enumerable.Range(0, 12_500).Count(i => i % 10 != 0 && i % 4 == 1);
        int unverified = Enumerable.Range(0, 12_500).Count(i => i % 10 != 0 && i % 4 >= 2);
        Assert.Equal(10, report.Rows.Count(r => r.Connector == "Bulk"));
        TlsReportRow bulk = new()
        {
            Verified = report.Rows.Where(r => r.Connector == "Bulk").Sum(r => r.Verified),
            Unverified = report.Rows.Where(r => r.Connector == "Bulk").Sum(r => r.Unverified),
            NoTls = report.Rows.Where(r => r.Connector == "Bulk").Sum(r => r.NoTls),
            Held = report.Rows.Where(r => r.Connector == "Bulk").Sum(r => r.Held),
        };
        Assert.Equal((verified, unverified, plain, 1_250), (bulk.Verified, bulk.Unverified, bulk.NoTls, bulk.Held));
        Assert.Equal(1_250, deferred.Count);
        Assert.False(deferred.More);
        Assert.Equal(4, one.Messages.Single().Events!.Count);
    }
}
