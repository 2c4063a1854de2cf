using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Spool;
using Postern.Tests.Delivery;
using Postern.Tests.Support;

namespace Postern.Tests.Logging;

/// <summary>
/// The delivery line of a real in-process gateway, in Postfix's shape:
/// <c>ID: to=&lt;...&gt;, relay=host[ip]:port, delay=N.N, dsn=X.Y.Z, status=... (reply), connector="..."</c>.
/// </summary>
public sealed class DeliveryOutcomeLogTests : IAsyncLifetime
{
    private const int Outcome = 4000;
    private const int Expired = 4002;
    private readonly RecordingLoggerProvider _log = new();
    private readonly FakeSmtpServer _partner = new();
    private readonly FakeSmtpServer _mailbox = new();
    private ILoggerFactory? _loggers;
    private TestGateway? _gateway;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_gateway is not null) await _gateway.DisposeAsync();
        _loggers?.Dispose();
        await _partner.DisposeAsync();
        await _mailbox.DisposeAsync();
    }

    private async Task StartAsync()
    {
        _loggers = _log.CreateFactory();
        _gateway = await TestGateway.StartAsync(loggers: _loggers, customize: c => c with
        {
            Gateway = c.Gateway with
            {
                Queue = new QueueSettings { Hold = false, MinimumBackoffSeconds = 60, MaximumBackoffSeconds = 120, DelayWarningHours = 0 },
                // Every route is an IP literal; a lookup would go to a closed loopback port, never to the system's resolver.
                Dns = new DnsSettings { Servers = ["127.0.0.1:9"], TimeoutSeconds = 1 },
            },
            Organizations =
            [
                c.Organizations[0] with
                {
                    OutboundConnectors =
                    [
                        new OutboundConnectorSettings { Name = "To Partner", RecipientDomains = ["partner.test"], SmartHosts = [_partner.SmartHost], TlsSettings = TlsLevel.None },
                        new OutboundConnectorSettings { Name = "To Fabrikam mailboxes", RecipientDomains = ["fabrikam.test"], SmartHosts = [_mailbox.SmartHost], TlsSettings = TlsLevel.None },
                    ],
                },
            ],
        });
    }

    private async Task<string> SubmitAsync(TimeSpan age)
    {
        MessageSpool spool = _gateway!.Gateway.Spool;
        string id = spool.NewQueueId();
        Envelope envelope = DeliveryAgentHarness.Envelope(id, "bob@partner.test") with { ReceivedAt = DateTimeOffset.UtcNow - age };
        await using SpoolWriter writer = spool.CreateWriter(envelope);
        await writer.WriteAsync(DeliveryAgentHarness.Message());
        await writer.CommitAsync();
        return id;
    }

    /// <summary>The line with its delay checked against the message's age and put back, so the rest compares exactly.</summary>
    private static string WithDelay(string message, double atLeast, double atMost, string expected)
    {
        Match delay = Regex.Match(message, @", delay=(\d+\.\d), ");
        Assert.True(delay.Success, message);
        double seconds = double.Parse(delay.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(seconds, atLeast, atMost);
        return expected.Replace("{delay}", delay.Groups[1].Value, StringComparison.Ordinal);
    }

    public static TheoryData<string?, string?, string, string> Outcomes => new()
    {
        // RCPT reply, data reply, dsn, status and reply as logged
        { null, null, "2.0.0", "sent (250 2.0.0 queued)" },
        { null, "250 2.6.0 Ok: queued as 4dXq1", "2.6.0", "sent (250 2.6.0 Ok: queued as 4dXq1)" },
        { "550 5.1.1 no such user", null, "5.1.1", "bounced (550 5.1.1 no such user)" },
        { "450 4.2.1 mailbox busy", null, "4.2.1", "deferred (450 4.2.1 mailbox busy)" },
        // Without an enhanced status code, the class of the reply code.
        { "452 try again", null, "4.0.0", "deferred (452 try again)" },
    };

    [Theory]
    [MemberData(nameof(Outcomes))]
    public async Task Each_recipient_outcome_is_one_line_with_queue_id_relay_delay_dsn_status_and_connector(string? rcptReply, string? dataReply, string dsn, string status)
    {
        _partner.Options = new FakeSmtpOptions { RecipientReply = _ => rcptReply, DataReply = () => dataReply };
        await StartAsync();
        string id = await SubmitAsync(TimeSpan.FromSeconds(75));

        RecordedEvent line = await _log.WaitForAsync(Outcome, e => Equals(e.Properties["QueueId"], id));

        string expected = WithDelay(line.Message, 75, 135,
            $"{id}: to=<bob@partner.test>, relay=127.0.0.1[127.0.0.1]:{_partner.Port}, delay={{delay}}, dsn={dsn}, status={status}, connector=\"To Partner\"");
        Assert.Equal(expected, line.Message);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Equal(dsn, line.Properties["Dsn"]);
        Assert.Equal("To Partner", line.Properties["Connector"]);
        Assert.IsType<double>(line.Properties["Delay"]);
    }

    [Fact]
    public async Task A_message_past_its_lifetime_is_logged_expired_per_recipient_with_relay_none()
    {
        await StartAsync();
        string id = await SubmitAsync(TimeSpan.FromHours(49));

        RecordedEvent line = await _log.WaitForAsync(Expired, e => Equals(e.Properties["QueueId"], id));

        string expected = WithDelay(line.Message, 49 * 3600, 49 * 3600 + 60,
            $"{id}: to=<bob@partner.test>, relay=none, delay={{delay}}, dsn=5.4.7, status=expired (550 5.4.7 delivery time expired), connector=\"\"");
        Assert.Equal(expected, line.Message);
        Assert.Equal(0, _partner.Connections);
    }

    public static TheoryData<string?, string[], string> Relays => new()
    {
        { null, [], "none" },
        { "mx1.partner.test [192.0.2.4]", [], "mx1.partner.test[192.0.2.4]:25" },
        { "smtp.partner.test [192.0.2.4]", ["smtp.partner.test:587"], "smtp.partner.test[192.0.2.4]:587" },
        { "smtp.partner.test [192.0.2.4]", ["smtp.partner.test"], "smtp.partner.test[192.0.2.4]:25" },
        { "2001:db8::25 [2001:db8::25]", ["[2001:db8::25]:2525"], "2001:db8::25[2001:db8::25]:2525" },
    };

    [Theory]
    [MemberData(nameof(Relays))]
    public void The_relay_is_host_address_and_port_as_Postfix_writes_it(string? remoteMta, string[] smartHosts, string relay)
    {
        var route = new DeliveryRoute { Domain = "partner.test", SmartHosts = smartHosts };
        Assert.Equal(relay, SchedulerLog.Relay(remoteMta, route));
    }
}
