using Postern.Cli;
using Postern.Tracing;

namespace Postern.Tests.Cli;

/// <summary>How <c>postern trace --details</c> words each kind of event.</summary>
public sealed class TraceEventTextTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 29, 5, 0, 0, TimeSpan.Zero);

    [Fact]
    public void An_attempt_reads_as_a_mail_log_line_with_the_port_when_it_is_known()
    {
        var attempt = new TraceEvent
        {
            Time = At,
            Kind = TraceEventKind.Attempt,
            RemoteHost = "mail.fabrikam.example",
            RemoteAddress = "192.0.2.4:25",
            Connector = "Fabrikam",
            TlsLevel = "DomainValidation",
            TlsProtocol = "TLSv1.3",
            TlsCipher = "TLS_AES_256_GCM_SHA384",
            Verification = "Verified",
            CertificateSubject = "CN=mail.fabrikam.example",
            CertificateSha256 = "AB12",
            Reply = "250 2.0.0 Ok",
            DurationMs = 120,
        };

        Assert.Equal("mail.fabrikam.example[192.0.2.4]:25 TLSv1.3 TLS_AES_256_GCM_SHA384 Verified CN=mail.fabrikam.example sha256=AB12 250 2.0.0 Ok (120 ms) [Fabrikam, DomainValidation]",
            TraceCommand.Describe(attempt));
        Assert.Equal("mail.fabrikam.example[2001:db8::4]:587 no TLS 250 2.0.0 Ok [default route, Opportunistic]",
            TraceCommand.Describe(new TraceEvent
            {
                Time = At,
                Kind = TraceEventKind.Attempt,
                RemoteHost = "mail.fabrikam.example",
                RemoteAddress = "[2001:db8::4]:587",
                TlsLevel = "Opportunistic",
                Reply = "250 2.0.0 Ok",
            }));
    }

    [Fact]
    public void A_connection_that_failed_before_STARTTLS_says_nothing_about_TLS()
    {
        var refused = new TraceEvent
        {
            Time = At,
            Kind = TraceEventKind.Attempt,
            RemoteHost = "mx.example",
            RemoteAddress = "192.0.2.9",
            Reply = "451 4.4.1 connection refused",
            DurationMs = 3,
        };

        Assert.Equal("mx.example[192.0.2.9] 451 4.4.1 connection refused (3 ms)", TraceCommand.Describe(refused));
    }

    [Fact]
    public void Rejections_deletions_and_outcomes()
    {
        Assert.Equal("x@fabrikam.example from unknown[203.0.113.66] via Internal 550 5.7.1 relay access denied",
            TraceCommand.Describe(new TraceEvent
            {
                Time = At,
                Kind = TraceEventKind.Rejected,
                Recipient = "x@fabrikam.example",
                ClientAddress = "203.0.113.66",
                Connector = "Internal",
                Reply = "550 5.7.1 relay access denied",
            }));
        Assert.Equal("sender <> from client.example[192.0.2.1] 552 5.3.4 message too big",
            TraceCommand.Describe(new TraceEvent
            {
                Time = At,
                Kind = TraceEventKind.Rejected,
                Sender = "",
                ClientAddress = "192.0.2.1",
                ClientName = "client.example",
                Reply = "552 5.3.4 message too big",
            }));
        Assert.Equal("by root", TraceCommand.Describe(new TraceEvent { Time = At, Kind = TraceEventKind.Deleted, Detail = "root" }));
        Assert.Equal("bob@contoso.example via Contoso 550 5.1.1 user unknown (delay=12.5s)",
            TraceCommand.Describe(new TraceEvent
            {
                Time = At,
                Kind = TraceEventKind.Bounced,
                Recipient = "bob@contoso.example",
                Connector = "Contoso",
                Reply = "550 5.1.1 user unknown",
                DurationMs = 12_500,
            }));
    }
}
