using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Postern.Configuration;
using Postern.Tests.Delivery;
using Postern.Tests.Receiving;
using Postern.Tests.Support;
using Postern.Tracing;

namespace Postern.Tests.Tracing;

/// <summary>
/// A real gateway with its trace store: a message in over STARTTLS, out over TLS to a scripted
/// partner; the trace database then holds both legs' TLS facts as a person tracing the message
/// would read them.
/// </summary>
public sealed class GatewayTraceTests : IAsyncLifetime
{
    private const string MessageId = "trace-1@fabrikam.test";
    private readonly TempDirectory _directory = new("postern-trace-gw");
    private TestGateway? _gateway;
    private FakeSmtpServer? _partner;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_gateway is not null) await _gateway.DisposeAsync();
        if (_partner is not null) await _partner.DisposeAsync();
        _directory.Dispose();
    }

    private string DatabasePath => TraceStoreOptions.DatabasePath(_gateway!.Configuration.Gateway.DataDirectory);

    /// <summary>Starts the gateway with a connector to a partner that presents <paramref name="partnerName"/>'s certificate, from a CA the gateway trusts.</summary>
    private async Task<X509Certificate2> StartAsync(string partnerName, TlsLevel level, string? tlsDomain)
    {
        var partnerCa = new TestCertificateAuthority(_directory.Combine("partner-ca"), "Partner CA");
        X509Certificate2 certificate = partnerCa.Issue("partner", partnerName, [partnerName]).Certificate;
        _partner = new FakeSmtpServer(new FakeSmtpOptions { Certificate = certificate, Intermediates = [partnerCa.Intermediate] });
        _gateway = await TestGateway.StartAsync(customize: c => c with
        {
            Gateway = c.Gateway with
            {
                Queue = new QueueSettings { Hold = false, MinimumBackoffSeconds = 60, MaximumBackoffSeconds = 60 },
                // Every route is an IP literal; a lookup would go to a closed loopback port.
                Dns = new DnsSettings { Servers = ["127.0.0.1:9"], TimeoutSeconds = 1 },
                Trust = c.Gateway.Trust with { AdditionalRoots = [.. c.Gateway.Trust.AdditionalRoots, partnerCa.RootFile] },
            },
            Organizations =
            [
                c.Organizations[0] with
                {
                    OutboundConnectors =
                    [
                        new OutboundConnectorSettings { Name = "To Partner", RecipientDomains = ["partner.test"], SmartHosts = [_partner.SmartHost], TlsSettings = level, TlsDomain = tlsDomain },
                    ],
                },
            ],
        });
        return certificate;
    }

    private async Task<string> SendOverStartTlsAsync()
    {
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(_gateway!.StartTls);
        Assert.StartsWith("220", await client.ReadReplyAsync(), StringComparison.Ordinal);
        await client.CommandAsync("EHLO client.fabrikam.test");
        Assert.StartsWith("220", await client.CommandAsync("STARTTLS"), StringComparison.Ordinal);
        await client.StartTlsAsync("mx.gateway.test");
        await client.CommandAsync("EHLO client.fabrikam.test");
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<alice@fabrikam.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<bob@partner.test>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        await client.SendAsync("From: alice@fabrikam.test\r\nTo: bob@partner.test\r\nSubject: traced\r\n"
            + $"Message-ID:\r\n <{MessageId}>\r\n\r\nHello.\r\n.\r\n");
        string queued = await client.ReadReplyAsync();
        Assert.StartsWith("250 2.0.0 Ok: queued as ", queued, StringComparison.Ordinal);
        await client.CommandAsync("QUIT");
        return queued["250 2.0.0 Ok: queued as ".Length..];
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within 30 s: {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Both_legs_tls_facts_and_the_message_id_are_in_the_trace()
    {
        X509Certificate2 partner = await StartAsync("mail.partner.test", TlsLevel.DomainValidation, "mail.partner.test");
        string queueId = await SendOverStartTlsAsync();
        await _partner!.WaitForAsync(s => s.Transactions.Count == 1);
        await WaitUntilAsync(() => _gateway!.QueueIds().Count == 0, "the queue is empty");
        Assert.True(_partner.Transactions[0].Encrypted);
        await _gateway!.Gateway.StopAsync();

        List<Dictionary<string, object?>> events = TraceRows.Query(DatabasePath, "SELECT * FROM events WHERE queue_id = $q ORDER BY id", ("$q", queueId));
        Assert.Equal(["received", "queued", "attempt", "delivered"], events.Select(e => (string)e["kind"]!));
        Assert.All(events, e => Assert.Equal(MessageId, e["message_id"]));

        Dictionary<string, object?> received = events[0];
        Assert.Equal("127.0.0.1", received["client_address"]);
        Assert.Equal("client.fabrikam.test", received["client_name"]);
        Assert.Equal("Loopback", received["connector"]);
        Assert.Equal("alice@fabrikam.test", received["sender"]);
        Assert.StartsWith("TLSv1.", (string)received["tls_protocol"]!, StringComparison.Ordinal);
        Assert.StartsWith("TLS_", (string)received["tls_cipher"]!, StringComparison.Ordinal);
        Assert.Equal("Anonymous", received["verification"]);
        Assert.Equal($"250 2.0.0 Ok: queued as {queueId}", received["reply"]);
        Assert.True((long)received["size"]! > 0);

        Dictionary<string, object?> attempt = events[2];
        string sha256 = Convert.ToHexString(SHA256.HashData(partner.RawData));
        Assert.Equal("To Partner", attempt["connector"]);
        Assert.Equal("127.0.0.1", attempt["remote_address"]);
        Assert.Equal("DomainValidation", attempt["tls_level"]);
        Assert.StartsWith("TLSv1.", (string)attempt["tls_protocol"]!, StringComparison.Ordinal);
        Assert.StartsWith("TLS_", (string)attempt["tls_cipher"]!, StringComparison.Ordinal);
        Assert.Equal(sha256, attempt["certificate_sha256"]);
        Assert.Equal("mail.partner.test", attempt["certificate_names"]);
        Assert.Equal("CN=mail.partner.test", attempt["certificate_subject"]);
        Assert.Equal("Verified", attempt["verification"]);
        Assert.Equal("250 2.0.0 queued", attempt["reply"]);
        Assert.NotNull(attempt["duration_ms"]);

        Dictionary<string, object?> delivered = events[3];
        Assert.Equal("bob@partner.test", delivered["recipient"]);
        Assert.Equal(sha256, delivered["certificate_sha256"]);
        Assert.Equal(attempt["tls_cipher"], delivered["tls_cipher"]);

        Dictionary<string, object?> message = Assert.Single(TraceRows.Query(DatabasePath, "SELECT * FROM messages WHERE queue_id = $q", ("$q", queueId)));
        Assert.Equal("delivered", message["status"]);
        Assert.Equal(MessageId, message["message_id"]);
        Assert.Equal("bob@partner.test", message["recipients"]);

        // What `postern trace --message-id ... --details` and `postern report tls` read from the same file.
        using TraceQuery query = TraceQuery.Open(_gateway.Configuration.Gateway.DataDirectory);
        TraceMessage traced = Assert.Single(query.Find(new TraceFilter { MessageId = MessageId, Details = true }).Messages);
        Assert.Equal(queueId, traced.QueueId);
        Assert.Equal("delivered", traced.Status);
        Assert.Equal(["bob@partner.test"], traced.Recipients);
        Assert.Equal([TraceEventKind.Received, TraceEventKind.Queued, TraceEventKind.Attempt, TraceEventKind.Delivered], traced.Events!.Select(e => e.Kind));
        TraceEvent tracedAttempt = traced.Events![2];
        Assert.Equal(sha256, tracedAttempt.CertificateSha256);
        Assert.Equal(["mail.partner.test"], tracedAttempt.CertificateNames);
        Assert.Equal("Verified", tracedAttempt.Verification);
        Assert.Equal("Anonymous", traced.Events![0].Verification);
        Assert.NotNull(traced.Events![0].TlsProtocol);

        TlsReport report = query.TlsReport(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        TlsReportRow row = Assert.Single(report.Rows);
        Assert.Equal("partner.test", row.Domain);
        Assert.Equal("To Partner", row.Connector);
        Assert.Equal(1, row.Verified);
        Assert.Equal(1, report.Total.Recipients);
    }

    [Fact]
    public async Task A_host_refused_by_policy_is_recorded_with_the_certificate_it_presented()
    {
        X509Certificate2 partner = await StartAsync("mx.other.test", TlsLevel.DomainValidation, "mail.partner.test");
        string queueId = await SendOverStartTlsAsync();
        await WaitUntilAsync(() => _gateway!.Gateway.Spool.DeliveryStates.Load(queueId).Recipients[0].Attempts > 0, "one attempt");
        Assert.False(_partner!.ReceivedMail);
        await _gateway!.Gateway.StopAsync();

        Dictionary<string, object?> attempt = Assert.Single(TraceRows.Query(DatabasePath, "SELECT * FROM events WHERE queue_id = $q AND kind = 'attempt'", ("$q", queueId)));
        Assert.Equal(Convert.ToHexString(SHA256.HashData(partner.RawData)), attempt["certificate_sha256"]);
        Assert.Equal("mx.other.test", attempt["certificate_names"]);
        Assert.Equal("Trusted", attempt["verification"]);
        Assert.Equal("454 4.7.5 certificate names [mx.other.test] do not match mail.partner.test (connector \"To Partner\" (DomainValidation))", attempt["reply"]);
        Dictionary<string, object?> deferred = Assert.Single(TraceRows.Query(DatabasePath, "SELECT * FROM events WHERE queue_id = $q AND kind = 'deferred'", ("$q", queueId)));
        Assert.Equal(attempt["certificate_sha256"], deferred["certificate_sha256"]);
        Assert.Equal(MessageId, deferred["message_id"]);
        Assert.Equal("deferred", TraceRows.Query(DatabasePath, "SELECT status FROM messages WHERE queue_id = $q", ("$q", queueId))[0]["status"]);

        using TraceQuery query = TraceQuery.Open(_gateway.Configuration.Gateway.DataDirectory);
        TlsReport report = query.TlsReport(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        TlsReportRow row = Assert.Single(report.Rows);
        Assert.Equal(1, row.Held);
        Assert.Contains(report.Reasons, r => r.Reason.Contains("do not match mail.partner.test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_recipient_refused_at_the_door_is_recorded_without_a_queue_id()
    {
        _gateway = await TestGateway.StartAsync(loopbackRelay: false);
        await using (RawSmtpClient client = await RawSmtpClient.ConnectAsync(_gateway.Plain))
        {
            await client.ReadReplyAsync();
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<mallory@evil.test>");
            Assert.StartsWith("5", await client.CommandAsync("RCPT TO:<bob@elsewhere.test>"), StringComparison.Ordinal);
            await client.CommandAsync("QUIT");
        }
        await _gateway.Gateway.TraceStore!.FlushAsync();
        Dictionary<string, object?> rejected = Assert.Single(TraceRows.Query(DatabasePath, "SELECT * FROM events WHERE kind = 'rejected'"));
        Assert.Null(rejected["queue_id"]);
        Assert.Equal("mallory@evil.test", rejected["sender"]);
        Assert.Equal("bob@elsewhere.test", rejected["recipient"]);
        Assert.Equal("recipient refused by the inbound policy", rejected["detail"]);
        Assert.StartsWith("5", (string)rejected["reply"]!, StringComparison.Ordinal);
        Assert.Null(rejected["tls_protocol"]);
    }

    [Fact]
    public async Task A_message_deleted_by_the_administrator_ends_as_deleted()
    {
        _gateway = await TestGateway.StartAsync(customize: c => c with
        {
            Gateway = c.Gateway with
            {
                Queue = new QueueSettings { Hold = false, MinimumBackoffSeconds = 60, MaximumBackoffSeconds = 60 },
                // The MX lookup goes to a closed loopback port: the recipient is deferred.
                Dns = new DnsSettings { Servers = ["127.0.0.1:9"], TimeoutSeconds = 1 },
            },
        });
        string queueId;
        await using (RawSmtpClient client = await RawSmtpClient.ConnectAsync(_gateway.Plain))
        {
            await client.ReadReplyAsync();
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<alice@fabrikam.test>");
            await client.CommandAsync("RCPT TO:<bob@nowhere.test>");
            await client.CommandAsync("DATA");
            await client.SendAsync("Subject: to be deleted\r\nMessage-Id: <deleted@fabrikam.test>\r\n\r\nHello.\r\n.\r\n");
            queueId = (await client.ReadReplyAsync())["250 2.0.0 Ok: queued as ".Length..];
        }
        await WaitUntilAsync(() => _gateway.Gateway.Scheduler!.DueAt(queueId) is not null
            && _gateway.Gateway.Spool.DeliveryStates.Load(queueId).Recipients[0].Attempts > 0, "the recipient deferred");
        Assert.True(await _gateway.Gateway.Scheduler!.DeleteAsync(queueId));
        await _gateway.Gateway.StopAsync();

        List<Dictionary<string, object?>> events = TraceRows.Query(DatabasePath, "SELECT * FROM events WHERE queue_id = $q ORDER BY id", ("$q", queueId));
        Assert.Equal(["received", "queued", "deferred", "deleted"], events.Select(e => (string)e["kind"]!));
        Assert.Equal("deleted by the administrator", events[^1]["detail"]);
        Assert.Equal("deleted@fabrikam.test", events[^1]["message_id"]);
        Assert.Null(events[0]["tls_protocol"]);
        Dictionary<string, object?> message = Assert.Single(TraceRows.Query(DatabasePath, "SELECT * FROM messages WHERE queue_id = $q", ("$q", queueId)));
        Assert.Equal("deleted", message["status"]);
    }

    [Fact]
    public async Task With_the_trace_disabled_there_is_no_store_and_no_database()
    {
        _gateway = await TestGateway.StartAsync(customize: c => c with { Gateway = c.Gateway with { Trace = new TraceSettings { Enabled = false } } });
        Assert.Null(_gateway.Gateway.TraceStore);
        await using (RawSmtpClient client = await RawSmtpClient.ConnectAsync(_gateway.Plain))
        {
            await client.ReadReplyAsync();
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<alice@fabrikam.test>");
            await client.CommandAsync("RCPT TO:<bob@partner.test>");
            await client.CommandAsync("DATA");
            await client.SendAsync("Subject: untraced\r\n\r\nHello.\r\n.\r\n");
            Assert.StartsWith("250", await client.ReadReplyAsync(), StringComparison.Ordinal);
        }
        Assert.False(File.Exists(DatabasePath));
    }
}
