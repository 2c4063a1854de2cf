using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Spool;
using Postern.Tls;
using Postern.Tests.Support;

namespace Postern.Tests.Delivery;

/// <summary>
/// The scheduler over two days of a controllable clock: backoff, the delay warning at 4 hours and
/// expiry at 48 hours with 5.4.7 and the last reason, against scripted peers.
/// </summary>
public sealed class QueueSchedulerClockTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Arrival = new(2026, 11, 2, 8, 0, 0, TimeSpan.Zero);

    private readonly TempDirectory _directory = new("postern-clock");
    private readonly FakeTimeProvider _time = new(Arrival);
    private readonly FakeSmtpServer _partner = new(new FakeSmtpOptions { OfferStartTls = false, RecipientReply = _ => "451 4.2.1 mailbox busy, try later" });
    private readonly FakeSmtpServer _senderSide = new(new FakeSmtpOptions { OfferStartTls = false });
    private MessageSpool _spool = null!;
    private DeliveryAgent _agent = null!;
    private QueueScheduler _scheduler = null!;

    public Task InitializeAsync()
    {
        _spool = new MessageSpool(_directory.Combine("spool"));
        var configuration = new PosternConfiguration
        {
            Organizations =
            [
                new OrganizationSettings
                {
                    Name = "Fabrikam",
                    AcceptedDomains = ["fabrikam.test"],
                    OutboundConnectors =
                    [
                        new OutboundConnectorSettings { Name = "To Partner", RecipientDomains = ["partner.test"], UseMxRecord = false, SmartHosts = [_partner.SmartHost] },
                        new OutboundConnectorSettings { Name = "To Fabrikam", RecipientDomains = ["fabrikam.test"], UseMxRecord = false, SmartHosts = [_senderSide.SmartHost] },
                    ],
                },
            ],
        };
        var router = new OutboundRouter(configuration);
        var trust = new TrustPolicy(false, []);
        _agent = new DeliveryAgent("mx.gateway.test", new MxResolver(new DnsSettings { Servers = ["127.0.0.1:9"] }), _ => trust, _ => null, new SmtpClientLimits(), NullLogger.Instance);
        _scheduler = new QueueScheduler(_spool, _agent, () => router,
            new RetrySchedule(new QueueSettings { MinimumBackoffSeconds = 300, MaximumBackoffSeconds = 3600, LifetimeHours = 48, DelayWarningHours = 4 }),
            new DeliveryStatusNotificationBuilder("mx.gateway.test", _time), "mx.gateway.test", new SchedulerLimits(), _time, NullLogger.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _scheduler.DisposeAsync();
        await _agent.DisposeAsync();
        await _spool.DisposeAsync();
        await _partner.DisposeAsync();
        await _senderSide.DisposeAsync();
        _directory.Dispose();
    }

    private async Task<string> QueueAsync()
    {
        string id = _spool.NewQueueId();
        var envelope = new Envelope
        {
            QueueId = id,
            Sender = "alice@fabrikam.test",
            Recipients = [new EnvelopeRecipient { Address = "bob@partner.test" }],
            ClientAddress = "127.0.0.1",
            HeloName = "client.test",
            Protocol = "ESMTP",
            Listener = "127.0.0.1:25",
            ReceivedAt = Arrival,
        };
        await using SpoolWriter writer = _spool.CreateWriter(envelope);
        await writer.WriteAsync(Encoding.ASCII.GetBytes("From: alice@fabrikam.test\r\nTo: bob@partner.test\r\nSubject: slow partner\r\n\r\nHello.\r\n"));
        await writer.CommitAsync();
        return id;
    }

    private int PartnerAttempts => _partner.Commands.Count(c => c.StartsWith("RCPT", StringComparison.Ordinal));

    /// <summary>Moves the clock forward in steps, letting the scheduler act at each step.</summary>
    private async Task AdvanceAsync(TimeSpan total, TimeSpan step)
    {
        for (TimeSpan moved = TimeSpan.Zero; moved < total; moved += step)
        {
            _time.Advance(step);
            await Task.Delay(30);
            await WaitUntilIdleAsync();
        }
    }

    private async Task WaitUntilIdleAsync()
    {
        // Idle: the message waits for its next attempt (or is gone) and the partner has seen no new RCPT for a moment.
        int seen = -1;
        for (int i = 0; i < 200 && (seen != PartnerAttempts || (_spool.ListQueueIds().Count > 0 && _spool.ListQueueIds().All(q => _scheduler.DueAt(q) is null))); i++)
        {
            seen = PartnerAttempts;
            await Task.Delay(25);
        }
    }

    private static MimeMessage Report(FakeSmtpServer server, int index) => MimeMessage.Load(new MemoryStream(server.Transactions[index].Content));

    [Fact]
    public async Task Backoff_then_a_delay_warning_after_four_hours_then_expiry_with_5_4_7_and_the_last_reason()
    {
        string id = await QueueAsync();
        _scheduler.Start();
        await _partner.WaitForAsync(s => s.Commands.Any(c => c.StartsWith("RCPT", StringComparison.Ordinal)));
        for (int i = 0; i < 200 && _scheduler.DueAt(id) is null; i++) await Task.Delay(25);
        Assert.Equal(1, PartnerAttempts);
        Assert.Equal(Arrival.AddMinutes(5), _scheduler.DueAt(id));

        // Nothing happens before the backoff is over.
        _time.Advance(TimeSpan.FromMinutes(4));
        await Task.Delay(200);
        Assert.Equal(1, PartnerAttempts);

        // Attempts at +5, +15, +35, +75 minutes (the backoff doubles), then hourly (the maximum): +135, +195.
        _time.Advance(TimeSpan.FromMinutes(1));
        await AdvanceAsync(TimeSpan.FromMinutes(235), TimeSpan.FromMinutes(5));
        Assert.Equal(7, PartnerAttempts);
        Assert.Empty(_senderSide.Transactions);

        await AdvanceAsync(TimeSpan.FromMinutes(60), TimeSpan.FromMinutes(2));
        await _senderSide.WaitForAsync(s => s.Transactions.Count == 1);
        MimeMessage delayed = Report(_senderSide, 0);
        Assert.Equal("Delayed Mail (still being retried)", delayed.Subject);
        Assert.StartsWith("MAIL FROM:<> ", _senderSide.Transactions[0].MailFrom);
        var delayedStatus = Assert.IsType<MessageDeliveryStatus>(Assert.IsType<MultipartReport>(delayed.Body)[1]);
        Assert.Equal("delayed", delayedStatus.StatusGroups[1]["Action"]);
        Assert.Equal("4.2.1", delayedStatus.StatusGroups[1]["Status"]);
        Assert.Contains(id, delayedStatus.StatusGroups[0]["X-Postern-Queue-ID"]);

        // Hourly attempts until the lifetime is over; then one failure report with 5.4.7.
        await AdvanceAsync(TimeSpan.FromHours(44), TimeSpan.FromMinutes(30));
        await _senderSide.WaitForAsync(s => s.Transactions.Count == 2);
        MimeMessage failed = Report(_senderSide, 1);
        Assert.Equal("Undelivered Mail Returned to Sender", failed.Subject);
        var failedStatus = Assert.IsType<MessageDeliveryStatus>(Assert.IsType<MultipartReport>(failed.Body)[1]);
        Assert.Equal("failed", failedStatus.StatusGroups[1]["Action"]);
        Assert.Equal("5.4.7", failedStatus.StatusGroups[1]["Status"]);
        Assert.Equal("smtp; 451 4.2.1 mailbox busy, try later", failedStatus.StatusGroups[1]["Diagnostic-Code"]);
        Assert.DoesNotContain(id, _spool.ListQueueIds());
        Assert.InRange(PartnerAttempts, 48, 52);
    }
}
