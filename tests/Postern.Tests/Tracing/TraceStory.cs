using Postern.Tracing;

namespace Postern.Tests.Tracing;

/// <summary>
/// Eight messages of a gateway's week, relative to <c>now</c>, with what each filter and the TLS
/// report must find:
/// <list type="bullet">
/// <item>M1 (3d ago) alice → bob@fabrikam.example, delivered by Fabrikam over verified TLSv1.3.</item>
/// <item>M2 (2d ago) Carol → dave@contoso.example delivered by Contoso over untrusted TLSv1.2; erin@fabrikam.example refused twice by Fabrikam's policy (4.7.5): deferred.</item>
/// <item>M3 (1d ago) alice → frank@plain.example, delivered by MX without TLS.</item>
/// <item>M4 (10h ago) &lt;&gt; → grace@contoso.example, bounced 550 5.1.1 through Contoso.</item>
/// <item>M5 (2h ago) mallory@branch.example → heidi@fabrikam.example, no STARTTLS (4.7.4), then expired.</item>
/// <item>M6 (30m ago) alice → ivan@northwind.example, connection refused: deferred.</item>
/// <item>M7 (10d ago) alice → bob@fabrikam.example, delivered over Trusted TLS: outside a 7-day window.</item>
/// <item>M8 (5h ago) bob@corp.example → judy@fabrikam.example, deleted by root before any attempt.</item>
/// </list>
/// Events are written out of time order; the query puts them in order.
/// </summary>
internal static class TraceStory
{
    public const string M1 = "0QSTORY0000001", M2 = "0QSTORY0000002", M3 = "0QSTORY0000003", M4 = "0QSTORY0000004",
        M5 = "0QSTORY0000005", M6 = "0QSTORY0000006", M7 = "0QSTORY0000007", M8 = "0QSTORY0000008";

    public const string FabrikamSha = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";

    public static readonly string CertificateExpired = "454 4.7.5 certificate expired 2026-01-01 (connector \"Fabrikam\" (DomainValidation))";
    public static readonly string NoStartTls = "454 4.7.4 TLS is required by connector \"Fabrikam\" (DomainValidation) but mx.fabrikam.example did not offer STARTTLS";
    public static readonly string Refused = "451 4.4.1 mx.northwind.example[192.0.2.9]:25: cannot connect to 192.0.2.9:25: connection refused";

    public static DateTimeOffset Seed(TraceDatabase database, DateTimeOffset? at = null)
    {
        DateTimeOffset now = DateTimeOffset.FromUnixTimeMilliseconds((at ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds());
        var events = new List<TraceEvent>();

        Received(events, M1, now.AddDays(-3), "alice@corp.example", "m1@corp.example", 2048);
        Queued(events, M1, now.AddDays(-3), "alice@corp.example", "bob@fabrikam.example");
        Attempt(events, M1, now.AddDays(-3).AddSeconds(2), "Fabrikam", "DomainValidation", "mx.fabrikam.example", "192.0.2.4", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "Verified", "250 2.0.0 Ok: queued as F1", 120);
        Outcome(events, M1, now.AddDays(-3).AddSeconds(2.2), TraceEventKind.Delivered, "bob@fabrikam.example", "Fabrikam", "250 2.0.0 Ok: queued as F1",
            "mx.fabrikam.example", "192.0.2.4", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "Verified");

        Received(events, M2, now.AddDays(-2), "Carol@Corp.Example", "m2@corp.example", 4096);
        Queued(events, M2, now.AddDays(-2), "Carol@Corp.Example", "dave@contoso.example");
        Queued(events, M2, now.AddDays(-2).AddMilliseconds(1), "Carol@Corp.Example", "erin@fabrikam.example");
        Attempt(events, M2, now.AddDays(-2).AddSeconds(1), "Contoso", "Opportunistic", "mail.contoso.example", "198.51.100.7", "TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "Untrusted", "250 2.0.0 Ok", 80);
        Outcome(events, M2, now.AddDays(-2).AddSeconds(1.1), TraceEventKind.Delivered, "dave@contoso.example", "Contoso", "250 2.0.0 Ok",
            "mail.contoso.example", "198.51.100.7", "TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "Untrusted");
        for (int i = 0; i < 2; i++)
        {
            DateTimeOffset at2 = now.AddDays(-2).AddMinutes(1 + (30 * i));
            Attempt(events, M2, at2, "Fabrikam", "DomainValidation", "mx.fabrikam.example", "192.0.2.4", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "Untrusted", CertificateExpired, 95);
            Outcome(events, M2, at2.AddMilliseconds(5), TraceEventKind.Deferred, "erin@fabrikam.example", "Fabrikam", CertificateExpired, "mx.fabrikam.example", "192.0.2.4");
        }

        Received(events, M3, now.AddDays(-1), "alice@corp.example", "m3@corp.example", 1024);
        Queued(events, M3, now.AddDays(-1), "alice@corp.example", "frank@plain.example");
        Attempt(events, M3, now.AddDays(-1).AddSeconds(1), null, "Opportunistic", "mx.plain.example", "203.0.113.5", null, null, null, "250 2.0.0 Ok", 40);
        Outcome(events, M3, now.AddDays(-1).AddSeconds(1.1), TraceEventKind.Delivered, "frank@plain.example", null, "250 2.0.0 Ok", "mx.plain.example", "203.0.113.5");

        Received(events, M4, now.AddHours(-10), "", null, 900);
        Queued(events, M4, now.AddHours(-10), "", "grace@contoso.example");
        Attempt(events, M4, now.AddHours(-10).AddSeconds(1), "Contoso", "Opportunistic", "mail.contoso.example", "198.51.100.7", "TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "Trusted", "550 5.1.1 user unknown", 70);
        Outcome(events, M4, now.AddHours(-10).AddSeconds(1.1), TraceEventKind.Bounced, "grace@contoso.example", "Contoso", "550 5.1.1 user unknown", "mail.contoso.example", "198.51.100.7");

        Received(events, M5, now.AddHours(-2), "mallory@branch.example", "m5@branch.example", 3000);
        Queued(events, M5, now.AddHours(-2), "mallory@branch.example", "heidi@fabrikam.example");
        Attempt(events, M5, now.AddHours(-2).AddSeconds(1), "Fabrikam", "DomainValidation", "mx.fabrikam.example", "192.0.2.4", null, null, null, NoStartTls, 30);
        Outcome(events, M5, now.AddHours(-2).AddSeconds(1.1), TraceEventKind.Deferred, "heidi@fabrikam.example", "Fabrikam", NoStartTls, "mx.fabrikam.example", "192.0.2.4");
        Outcome(events, M5, now.AddHours(-1), TraceEventKind.Expired, "heidi@fabrikam.example", "Fabrikam", "451 4.4.7 message expired in the queue", null, null);

        Received(events, M6, now.AddMinutes(-30), "alice@corp.example", "m6@corp.example", 5000);
        Queued(events, M6, now.AddMinutes(-30), "alice@corp.example", "ivan@northwind.example");
        Attempt(events, M6, now.AddMinutes(-29), "Northwind", "Opportunistic", "mx.northwind.example", "192.0.2.9", null, null, null, Refused, 3);
        Outcome(events, M6, now.AddMinutes(-29).AddMilliseconds(4), TraceEventKind.Deferred, "ivan@northwind.example", "Northwind", Refused, "mx.northwind.example", "192.0.2.9");

        Received(events, M7, now.AddDays(-10), "alice@corp.example", "m7@corp.example", 700);
        Queued(events, M7, now.AddDays(-10), "alice@corp.example", "bob@fabrikam.example");
        Attempt(events, M7, now.AddDays(-10).AddSeconds(1), "Fabrikam", "DomainValidation", "mx.fabrikam.example", "192.0.2.4", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "Trusted", "250 2.0.0 Ok", 100);
        Outcome(events, M7, now.AddDays(-10).AddSeconds(1.1), TraceEventKind.Delivered, "bob@fabrikam.example", "Fabrikam", "250 2.0.0 Ok",
            "mx.fabrikam.example", "192.0.2.4", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "Trusted");

        Received(events, M8, now.AddHours(-5), "bob@corp.example", "m8@corp.example", 600);
        Queued(events, M8, now.AddHours(-5), "bob@corp.example", "judy@fabrikam.example");
        events.Add(new TraceEvent { Time = now.AddHours(-5).AddMinutes(3), Kind = TraceEventKind.Deleted, QueueId = M8, MessageId = "m8@corp.example", Sender = "bob@corp.example", Detail = "root" });

        // A door rejection: no queue id, so no message of its own.
        events.Add(new TraceEvent
        {
            Time = now.AddHours(-3),
            Kind = TraceEventKind.Rejected,
            Sender = "spam@elsewhere.example",
            Recipient = "x@fabrikam.example",
            Connector = "Internal",
            ClientAddress = "203.0.113.66",
            ClientName = "unknown",
            Reply = "550 5.7.1 relay access denied",
        });

        // Each message's events in the order the gateway records them; the messages interleaved out
        // of time order, so the query must order what it reads.
        database.Add(events.GroupBy(e => e.QueueId).Reverse().SelectMany(g => g));
        foreach ((string id, string status) in new[] { (M1, "delivered"), (M2, "deferred"), (M3, "delivered"), (M4, "bounced"), (M5, "expired"), (M6, "deferred"), (M7, "delivered"), (M8, "deleted") })
        {
            string? derived = database.Status(id);
            if (derived != status) throw new InvalidOperationException($"the store derived status {derived ?? "(none)"} for {id}; the story says {status}");
        }
        return now;
    }

    private static void Received(List<TraceEvent> events, string queueId, DateTimeOffset time, string sender, string? messageId, long size) => events.Add(new TraceEvent
    {
        Time = time,
        Kind = TraceEventKind.Received,
        QueueId = queueId,
        MessageId = messageId,
        Sender = sender,
        Connector = "Internal",
        ClientAddress = "10.1.2.3",
        ClientName = "relay.corp.example",
        Size = size,
    });

    private static void Queued(List<TraceEvent> events, string queueId, DateTimeOffset time, string sender, string recipient) => events.Add(new TraceEvent
    {
        Time = time.AddMilliseconds(5),
        Kind = TraceEventKind.Queued,
        QueueId = queueId,
        Sender = sender,
        Recipient = recipient,
        Connector = "Internal",
    });

    private static void Attempt(List<TraceEvent> events, string queueId, DateTimeOffset time, string? connector, string level, string host, string address,
        string? protocol, string? cipher, string? verification, string reply, long duration) => events.Add(new TraceEvent
        {
            Time = time,
            Kind = TraceEventKind.Attempt,
            QueueId = queueId,
            Connector = connector,
            TlsLevel = level,
            RemoteHost = host,
            RemoteAddress = address,
            TlsProtocol = protocol,
            TlsCipher = cipher,
            Verification = verification,
            CertificateSubject = protocol is null ? null : $"CN={host}",
            CertificateNames = protocol is null ? null : [host, host[(host.IndexOf('.') + 1)..]],
            CertificateSha256 = protocol is null ? null : host.Contains("fabrikam", StringComparison.Ordinal) ? FabrikamSha : new string('C', 64),
            Reply = reply,
            DurationMs = duration,
        });

    private static void Outcome(List<TraceEvent> events, string queueId, DateTimeOffset time, TraceEventKind kind, string recipient, string? connector, string reply,
        string? host, string? address, string? protocol = null, string? cipher = null, string? verification = null) => events.Add(new TraceEvent
        {
            Time = time,
            Kind = kind,
            QueueId = queueId,
            Recipient = recipient,
            Connector = connector,
            Reply = reply,
            RemoteHost = host,
            RemoteAddress = address,
            TlsProtocol = protocol,
            TlsCipher = cipher,
            Verification = verification,
            DurationMs = 1500,
        });
}
