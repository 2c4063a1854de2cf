using MimeKit;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Spool;
using Postern.Tests.Support;

namespace Postern.Tests.Delivery;

/// <summary>
/// The delivering side of a real in-process gateway (queue not held): messages committed to its
/// spool go to a scripted partner server through an outbound connector with an IP-literal smart
/// host; reports to the sender go to a second scripted server, the sender's mailbox host.
/// </summary>
public sealed class QueueSchedulerGatewayTests : IAsyncLifetime
{
    private const string Sender = "alice@fabrikam.test";
    private readonly FakeSmtpServer _partner = new();
    private readonly FakeSmtpServer _mailbox = new();
    private TestGateway? _gateway;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_gateway is not null) await _gateway.DisposeAsync();
        await _partner.DisposeAsync();
        await _mailbox.DisposeAsync();
    }

    private TestGateway Gateway => _gateway!;

    private QueueScheduler Scheduler => Gateway.Gateway.Scheduler!;

    private async Task StartAsync(int minimumBackoffSeconds = 1, int maximumBackoffSeconds = 2, TlsLevel partnerTls = TlsLevel.Opportunistic)
    {
        _gateway = await TestGateway.StartAsync(customize: c => c with
        {
            Gateway = c.Gateway with
            {
                Queue = new QueueSettings
                {
                    Hold = false,
                    MinimumBackoffSeconds = minimumBackoffSeconds,
                    MaximumBackoffSeconds = maximumBackoffSeconds,
                    DelayWarningHours = 0,
                },
                // Every route below is an IP literal; a lookup would go to a closed loopback port, never to the system's resolver.
                Dns = new DnsSettings { Servers = ["127.0.0.1:9"], TimeoutSeconds = 1 },
            },
            Organizations =
            [
                c.Organizations[0] with
                {
                    OutboundConnectors =
                    [
                        new OutboundConnectorSettings { Name = "To Partner", RecipientDomains = ["partner.test"], SmartHosts = [_partner.SmartHost], TlsSettings = partnerTls },
                        new OutboundConnectorSettings { Name = "To Fabrikam mailboxes", RecipientDomains = ["fabrikam.test"], SmartHosts = [_mailbox.SmartHost], TlsSettings = TlsLevel.None },
                    ],
                },
            ],
        });
    }

    private async Task<string> SubmitAsync(Func<Envelope, Envelope>? customize = null, byte[]? content = null, params string[] recipients)
    {
        MessageSpool spool = Gateway.Gateway.Spool;
        string id = spool.NewQueueId();
        Envelope envelope = DeliveryAgentHarness.Envelope(id, recipients.Length == 0 ? ["bob@partner.test"] : recipients);
        if (customize is not null) envelope = customize(envelope);
        await using SpoolWriter writer = spool.CreateWriter(envelope);
        await writer.WriteAsync(content ?? DeliveryAgentHarness.Message());
        await writer.CommitAsync();
        return id;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 20)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {seconds} s: {what}");
            await Task.Delay(25);
        }
    }

    private Task WaitForEmptyQueueAsync() => WaitUntilAsync(() => Gateway.QueueIds().Count == 0, "the queue is empty");

    /// <summary>Waits until the scheduler has recorded an attempt of <paramref name="id"/> and scheduled the next one.</summary>
    private Task WaitForDeferralAsync(string id) => WaitUntilAsync(
        () => Scheduler.DueAt(id) is not null && Gateway.Gateway.Spool.DeliveryStates.Load(id).Recipients.Any(r => r.Attempts > 0),
        $"{id} deferred");

    private int RcptCount(string address) => _partner.Commands.Count(c => c.StartsWith($"RCPT TO:<{address}>", StringComparison.Ordinal));

    private static HeaderList[] StatusGroups(ReceivedTransaction dsn)
    {
        MimeMessage message = MimeMessage.Load(new MemoryStream(dsn.Content));
        MultipartReport report = Assert.IsType<MultipartReport>(message.Body);
        Assert.Equal("delivery-status", report.ReportType);
        MessageDeliveryStatus status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        return [.. status.StatusGroups];
    }

    [Fact]
    public async Task A_delivered_message_is_removed_from_the_queue()
    {
        await StartAsync();
        byte[] content = DeliveryAgentHarness.Message("Line one.\r\n.starts with a dot\r\n");
        string id = await SubmitAsync(content: content);
        await _partner.WaitForAsync(s => s.Transactions.Count == 1);
        await WaitForEmptyQueueAsync();
        Assert.Equal(content, _partner.Transactions[0].Content);
        Assert.Equal("MAIL FROM:<alice@fabrikam.test> SIZE=" + content.Length, _partner.Transactions[0].MailFrom);
        Assert.False(File.Exists(Path.Combine(Gateway.QueueDirectory, id)));
        // No SUCCESS was asked for, so the sender hears nothing.
        Assert.Equal(0, _mailbox.Connections);
    }

    [Fact]
    public async Task A_deferred_recipient_is_retried_and_delivered_once_the_peer_accepts()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = _ => "450 4.2.1 mailbox busy" };
        await StartAsync();
        string id = await SubmitAsync();
        await WaitForDeferralAsync(id);
        RecipientDeliveryState deferred = Gateway.Gateway.Spool.DeliveryStates.Load(id).Recipients[0];
        Assert.Equal(RecipientStatus.Deferred, deferred.Status);
        Assert.Equal("450 4.2.1 mailbox busy", deferred.LastReply!.ToString());
        Assert.Empty(_partner.Transactions);

        _partner.Options = new FakeSmtpOptions();
        await _partner.WaitForAsync(s => s.Transactions.Count == 1);
        await WaitForEmptyQueueAsync();
        Assert.Equal(["bob@partner.test"], _partner.Transactions[0].Recipients);
        Assert.Equal(0, _mailbox.Connections);
    }

    [Fact]
    public async Task A_partial_delivery_retries_only_the_recipients_left()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = a => a == "carol@partner.test" ? "451 4.3.0 try again" : null };
        await StartAsync();
        string id = await SubmitAsync(recipients: ["bob@partner.test", "carol@partner.test"]);
        await WaitForDeferralAsync(id);
        Assert.Equal(["bob@partner.test"], Assert.Single(_partner.Transactions).Recipients);

        _partner.Options = new FakeSmtpOptions();
        await _partner.WaitForAsync(s => s.Transactions.Count == 2);
        await WaitForEmptyQueueAsync();
        Assert.Equal(["carol@partner.test"], _partner.Transactions[1].Recipients);
        Assert.Equal(1, RcptCount("bob@partner.test"));
        Assert.True(RcptCount("carol@partner.test") >= 2);
    }

    [Fact]
    public async Task A_connector_that_requires_tls_keeps_the_message_queued_and_sends_nothing()
    {
        await StartAsync(partnerTls: TlsLevel.EncryptionOnly);
        string id = await SubmitAsync();
        await WaitForDeferralAsync(id);
        RecipientDeliveryState bob = Gateway.Gateway.Spool.DeliveryStates.Load(id).Recipients[0];
        Assert.Equal(RecipientStatus.Deferred, bob.Status);
        Assert.Equal("To Partner", bob.Connector);
        Assert.Equal("454 4.7.4 TLS is required by connector \"To Partner\" (EncryptionOnly) but 127.0.0.1 did not offer STARTTLS", bob.LastReply!.ToString());
        Assert.False(_partner.ReceivedMail);
        Assert.Contains(id, Gateway.QueueIds());
    }

    [Fact]
    public async Task A_permanent_failure_sends_the_sender_a_report_with_the_remote_reply()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = a => a == "nobody@partner.test" ? "550 5.1.1 no such user here" : null };
        await StartAsync();
        await SubmitAsync(recipients: ["bob@partner.test", "nobody@partner.test"]);
        await _mailbox.WaitForAsync(s => s.Transactions.Count == 1);
        await WaitForEmptyQueueAsync();

        ReceivedTransaction dsn = _mailbox.Transactions[0];
        Assert.StartsWith("MAIL FROM:<>", dsn.MailFrom, StringComparison.Ordinal);
        Assert.Equal([Sender], dsn.Recipients);
        HeaderList[] groups = StatusGroups(dsn);
        Assert.Equal("dns; mx.gateway.test", groups[0]["Reporting-MTA"]);
        HeaderList nobody = Assert.Single(groups.Skip(1));
        Assert.Equal("rfc822; nobody@partner.test", nobody["Final-Recipient"]);
        Assert.Equal("failed", nobody["Action"]);
        Assert.Equal("5.1.1", nobody["Status"]);
        Assert.Equal("dns; 127.0.0.1", nobody["Remote-MTA"]);
        Assert.Equal("smtp; 550 5.1.1 no such user here", nobody["Diagnostic-Code"]);
        Assert.Equal(["bob@partner.test"], Assert.Single(_partner.Transactions).Recipients);
    }

    [Fact]
    public async Task Expiry_returns_a_report_with_5_4_7_and_the_last_reason()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = _ => "452 4.2.2 mailbox full" };
        await StartAsync();
        // Arrived just under the 48 h lifetime ago: one or two attempts, then the lifetime is over.
        TimeSpan lifetime = TimeSpan.FromHours(new QueueSettings().LifetimeHours);
        await SubmitAsync(e => e with { ReceivedAt = DateTimeOffset.UtcNow - lifetime + TimeSpan.FromSeconds(2) });
        await _mailbox.WaitForAsync(s => s.Transactions.Count == 1);
        await WaitForEmptyQueueAsync();

        HeaderList bob = StatusGroups(_mailbox.Transactions[0])[1];
        Assert.Equal("rfc822; bob@partner.test", bob["Final-Recipient"]);
        Assert.Equal("failed", bob["Action"]);
        Assert.Equal("5.4.7", bob["Status"]);
        Assert.Equal("smtp; 452 4.2.2 mailbox full", bob["Diagnostic-Code"]);
        Assert.Empty(_partner.Transactions);
        Assert.True(RcptCount("bob@partner.test") >= 1);
    }

    [Fact]
    public async Task Notify_never_suppresses_the_failure_report()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = _ => "550 5.1.1 no such user here" };
        await StartAsync();
        await SubmitAsync(e => e with { Recipients = [new EnvelopeRecipient { Address = "nobody@partner.test", Notify = DsnNotify.Never }] });
        await WaitUntilAsync(() => RcptCount("nobody@partner.test") == 1, "the recipient was tried");
        // A report would be queued before the original is removed, and would keep the queue non-empty until delivered.
        await WaitForEmptyQueueAsync();
        Assert.Equal(0, _mailbox.Connections);
    }

    [Fact]
    public async Task A_bounce_from_the_null_sender_gets_no_report()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = _ => "550 5.1.1 no such user here" };
        await StartAsync();
        await SubmitAsync(e => e with { Sender = "" });
        await WaitUntilAsync(() => RcptCount("bob@partner.test") == 1, "the recipient was tried");
        await WaitForEmptyQueueAsync();
        Assert.Contains("MAIL FROM:<> SIZE=", _partner.Commands.Single(c => c.StartsWith("MAIL", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal(0, _mailbox.Connections);
    }

    [Fact]
    public async Task Retry_now_makes_a_deferred_message_due_at_once()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = _ => "450 4.2.1 mailbox busy" };
        await StartAsync(minimumBackoffSeconds: 600, maximumBackoffSeconds: 3600);
        string id = await SubmitAsync();
        await WaitForDeferralAsync(id);
        Assert.True(Scheduler.DueAt(id) > DateTimeOffset.UtcNow.AddMinutes(5));

        _partner.Options = new FakeSmtpOptions();
        Assert.True(Scheduler.RetryNow(id));
        await _partner.WaitForAsync(s => s.Transactions.Count == 1, TimeSpan.FromSeconds(10));
        await WaitForEmptyQueueAsync();
        Assert.False(Scheduler.RetryNow(id));
    }

    [Fact]
    public async Task Retry_now_during_an_attempt_is_not_lost()
    {
        using var inRcpt = new SemaphoreSlim(0);
        using var release = new ManualResetEventSlim();
        _partner.Options = new FakeSmtpOptions
        {
            RecipientReply = _ =>
            {
                inRcpt.Release();
                release.Wait(TimeSpan.FromSeconds(20));
                return "450 4.2.1 mailbox busy";
            },
        };
        await StartAsync(minimumBackoffSeconds: 600, maximumBackoffSeconds: 3600);
        string id = await SubmitAsync();
        Assert.True(await inRcpt.WaitAsync(TimeSpan.FromSeconds(20)));

        // The administrator asks for a retry while the first attempt is still talking to the peer.
        Assert.True(Scheduler.RetryNow(id));
        _partner.Options = new FakeSmtpOptions();
        release.Set();
        await _partner.WaitForAsync(s => s.Transactions.Count == 1, TimeSpan.FromSeconds(10));
        await WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task Delete_removes_a_deferred_message_without_a_report()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = _ => "450 4.2.1 mailbox busy" };
        await StartAsync(minimumBackoffSeconds: 600, maximumBackoffSeconds: 3600);
        string id = await SubmitAsync();
        await WaitForDeferralAsync(id);

        Assert.True(await Scheduler.DeleteAsync(id));
        Assert.DoesNotContain(id, Gateway.QueueIds());
        Assert.Null(Scheduler.DueAt(id));
        Assert.Equal(0, Scheduler.Count);
        Assert.False(await Scheduler.DeleteAsync(id));
        Assert.False(Scheduler.RetryNow(id));
        Assert.Equal(0, _mailbox.Connections);
    }

    [Fact]
    public async Task A_restart_resumes_the_deferred_queue_and_delivers_it()
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = _ => "450 4.2.1 mailbox busy" };
        await StartAsync();
        string id = await SubmitAsync(recipients: ["bob@partner.test", "carol@partner.test"]);
        await WaitForDeferralAsync(id);

        await Gateway.RestartAsync();
        Assert.Contains(id, Gateway.QueueIds());
        int before = _partner.Transactions.Count;
        Assert.Equal(0, before);
        _partner.Options = new FakeSmtpOptions();
        await _partner.WaitForAsync(s => s.Transactions.Count == 1);
        await WaitForEmptyQueueAsync();
        Assert.Equal(["bob@partner.test", "carol@partner.test"], _partner.Transactions[0].Recipients);
        Assert.Equal(DeliveryAgentHarness.Message(), _partner.Transactions[0].Content);
    }

    [Fact]
    public async Task A_success_report_is_sent_when_asked_for()
    {
        await StartAsync();
        await SubmitAsync(e => e with { Recipients = [new EnvelopeRecipient { Address = "bob@partner.test", Notify = DsnNotify.Success }] });
        await _mailbox.WaitForAsync(s => s.Transactions.Count == 1);
        await WaitForEmptyQueueAsync();
        HeaderList bob = StatusGroups(_mailbox.Transactions[0])[1];
        Assert.Equal("delivered", bob["Action"]);
        Assert.Equal("2.0.0", bob["Status"]);
        Assert.Equal("smtp; 250 2.0.0 queued", bob["Diagnostic-Code"]);
        Assert.Equal(["bob@partner.test"], Assert.Single(_partner.Transactions).Recipients);
    }
}
