using System.Text;
using MimeKit;
using Postern.Delivery;
using Postern.Smtp;
using Postern.Spool;
using Postern.Tests.Spool;

namespace Postern.Tests.Delivery;

public sealed class DeliveryStatusNotificationTests
{
    private const string HostName = "mx.gateway.example";
    private const string TlsReason = "TLS is required by connector 'To Contoso' and mail.contoso.example did not offer STARTTLS";
    private static readonly DateTimeOffset Received = new(2026, 11, 29, 1, 2, 3, TimeSpan.Zero);
    private static readonly DateTimeOffset LastAttempt = new(2026, 12, 1, 1, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Expires = new(2026, 12, 1, 1, 2, 3, TimeSpan.Zero);

    private static readonly byte[] Original = Encoding.ASCII.GetBytes(
        "Received: from mail.contoso.example\r\n" +
        "From: Alice <alice@contoso.example>\r\n" +
        "To: bob@fabrikam.example\r\n" +
        "Subject: Quarterly figures\r\n" +
        "Message-ID: <orig-1@contoso.example>\r\n" +
        "\r\n" +
        "The figures are attached.\r\n" +
        "Second body line.\r\n");

    private static readonly DeliveryStatusNotificationBuilder Builder = new(HostName, new FixedTime(LastAttempt.AddHours(1)));

    [Fact]
    public void Failure_report_has_every_field()
    {
        Envelope envelope = OriginalEnvelope() with { EnvelopeId = "QQ314159" };
        DeliveryStatusNotification dsn = Build(envelope, Original, Failed("bob@fabrikam.example", orcpt: "rfc822;Bob@Fabrikam.example"), RemoteFailed("carol@contoso.example"))!;

        Assert.Equal("", dsn.Sender);
        Assert.Equal("alice@contoso.example", dsn.Recipient);
        Assert.False(dsn.SmtpUtf8);
        Assert.Equal(BodyType.SevenBit, dsn.Body);
        Assert.DoesNotContain(dsn.Content, b => b >= 0x80);
        AssertCrlfOnly(dsn.Content);

        MimeMessage message = Parse(dsn);
        Assert.Equal("Undelivered Mail Returned to Sender", message.Subject);
        MailboxAddress from = Assert.IsType<MailboxAddress>(Assert.Single(message.From));
        Assert.Equal("Mail Delivery System", from.Name);
        Assert.Equal("MAILER-DAEMON@mx.gateway.example", from.Address);
        Assert.Equal("alice@contoso.example", Assert.IsType<MailboxAddress>(Assert.Single(message.To)).Address);
        Assert.Equal("auto-replied", message.Headers[HeaderId.AutoSubmitted]);
        Assert.Equal(dsn.MessageId, message.MessageId);
        Assert.EndsWith("@" + HostName, message.MessageId, StringComparison.Ordinal);
        Assert.Equal(LastAttempt.AddHours(1), message.Date);

        MultipartReport report = Assert.IsType<MultipartReport>(message.Body);
        Assert.Equal("delivery-status", report.ReportType);
        Assert.Equal(3, report.Count);

        TextPart human = Assert.IsType<TextPart>(report[0]);
        Assert.True(human.IsPlain);
        Assert.Contains("<bob@fabrikam.example>: " + TlsReason + "\n", human.Text, StringComparison.Ordinal);
        Assert.Contains("connector 'To Contoso', 7 attempts", human.Text, StringComparison.Ordinal);
        Assert.Contains("<carol@contoso.example>: host mail.contoso.example [192.0.2.25] said: 550 5.1.1 User unknown", human.Text, StringComparison.Ordinal);

        MessageDeliveryStatus status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        Assert.Equal("message/delivery-status", status.ContentType.MimeType);
        Assert.Equal(3, status.StatusGroups.Count);
        HeaderList perMessage = status.StatusGroups[0];
        Assert.Equal("dns; mx.gateway.example", perMessage["Reporting-MTA"]);
        Assert.Equal("QQ314159", perMessage["Original-Envelope-Id"]);
        Assert.Equal(DateUtilsFormat(Received), perMessage["Arrival-Date"]);
        Assert.Equal(envelope.QueueId, perMessage["X-Postern-Queue-ID"]);

        HeaderList bob = status.StatusGroups[1];
        Assert.Equal("rfc822; Bob@Fabrikam.example", bob["Original-Recipient"]);
        Assert.Equal("rfc822; bob@fabrikam.example", bob["Final-Recipient"]);
        Assert.Equal("failed", bob["Action"]);
        Assert.Equal("4.7.4", bob["Status"]);
        Assert.Equal("dns; mail.contoso.example", bob["Remote-MTA"]);
        Assert.Equal("X-Postern; 454 4.7.4 " + TlsReason, bob["Diagnostic-Code"]);
        Assert.Equal(DateUtilsFormat(LastAttempt), bob["Last-Attempt-Date"]);
        Assert.Null(bob["Will-Retry-Until"]);

        HeaderList carol = status.StatusGroups[2];
        Assert.Null(carol["Original-Recipient"]);
        Assert.Equal("rfc822; carol@contoso.example", carol["Final-Recipient"]);
        Assert.Equal("failed", carol["Action"]);
        Assert.Equal("5.1.1", carol["Status"]);
        Assert.Equal("dns; mail.contoso.example", carol["Remote-MTA"]);
        Assert.Equal("smtp; 550 5.1.1 User unknown", carol["Diagnostic-Code"]);

        // RET absent: headers only.
        TextRfc822Headers headers = Assert.IsType<TextRfc822Headers>(report[2]);
        Assert.Equal("text/rfc822-headers", headers.ContentType.MimeType);
        Assert.Equal("Quarterly figures", headers.Message!.Subject);
        Assert.Equal("orig-1@contoso.example", headers.Message!.MessageId);
        Assert.DoesNotContain("The figures are attached", Encoding.ASCII.GetString(dsn.Content), StringComparison.Ordinal);
    }

    [Fact]
    public void Ret_full_returns_the_whole_message_byte_for_byte()
    {
        DeliveryStatusNotification dsn = Build(OriginalEnvelope() with { Return = DsnReturn.Full }, Original, Failed("bob@fabrikam.example"))!;
        MultipartReport report = Assert.IsType<MultipartReport>(Parse(dsn).Body);
        MessagePart returned = Assert.IsType<MessagePart>(report[2]);
        Assert.Equal("message/rfc822", returned.ContentType.MimeType);
        Assert.Equal("Quarterly figures", returned.Message!.Subject);
        Assert.Equal("The figures are attached.\nSecond body line.\n", Assert.IsType<TextPart>(returned.Message!.Body).Text);
        Assert.Contains(Encoding.ASCII.GetString(Original), Encoding.ASCII.GetString(dsn.Content), StringComparison.Ordinal);
    }

    [Fact]
    public void Ret_hdrs_returns_only_the_headers()
    {
        DeliveryStatusNotification dsn = Build(OriginalEnvelope() with { Return = DsnReturn.Headers }, Original, Failed("bob@fabrikam.example"))!;
        MultipartReport report = Assert.IsType<MultipartReport>(Parse(dsn).Body);
        TextRfc822Headers headers = Assert.IsType<TextRfc822Headers>(report[2]);
        Assert.Equal("Alice", ((MailboxAddress)headers.Message!.From[0]).Name);
        Assert.DoesNotContain("Second body line", Encoding.ASCII.GetString(dsn.Content), StringComparison.Ordinal);
    }

    [Fact]
    public void Ret_full_applies_to_failures_only_and_to_messages_under_the_size_limit()
    {
        Envelope full = OriginalEnvelope() with { Return = DsnReturn.Full };
        DeliveryStatusNotification delayed = Build(full, Original, Delayed("bob@fabrikam.example"))!;
        Assert.IsType<TextRfc822Headers>(Report(delayed)[2]);

        var small = new DeliveryStatusNotificationBuilder(HostName, new FixedTime(LastAttempt)) { MaximumReturnedSize = 64 };
        DeliveryStatusNotification truncated = small.Build(full, new MemoryStream(Original), [Failed("bob@fabrikam.example")])!;
        MultipartReport report = Report(truncated);
        Assert.IsType<TextRfc822Headers>(report[2]);
        Assert.Contains("larger than 64 bytes; only its headers are returned", ((TextPart)report[0]).Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Delayed_report_says_until_when_it_is_retried()
    {
        DeliveryStatusNotification dsn = Build(OriginalEnvelope(), Original, Delayed("bob@fabrikam.example"))!;
        MimeMessage message = Parse(dsn);
        Assert.Equal("Delayed Mail (still being retried)", message.Subject);
        MultipartReport report = Assert.IsType<MultipartReport>(message.Body);
        HeaderList bob = ((MessageDeliveryStatus)report[1]).StatusGroups[1];
        Assert.Equal("delayed", bob["Action"]);
        Assert.Equal("4.7.4", bob["Status"]);
        Assert.Equal(DateUtilsFormat(Expires), bob["Will-Retry-Until"]);
        Assert.Contains("still being retried", ((TextPart)report[0]).Text, StringComparison.Ordinal);
        Assert.Contains(TlsReason, ((TextPart)report[0]).Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Success_report_for_delivered_and_relayed()
    {
        EnvelopeRecipient bob = new() { Address = "bob@fabrikam.example", Notify = DsnNotify.Success };
        EnvelopeRecipient carol = new() { Address = "carol@fabrikam.example", Notify = DsnNotify.Success | DsnNotify.Failure };
        var ok = new RecordedReply { Code = 250, EnhancedStatus = "2.0.0", Text = "Ok: queued as 4XyZ" };
        DeliveryStatusNotification dsn = Build(OriginalEnvelope(), Original,
            new DsnRecipientReport { Recipient = bob, Action = DsnAction.Delivered, Status = new(2, 0, 0), Reply = ok, RemoteMta = "mail.fabrikam.example [192.0.2.30]", LastAttemptAt = LastAttempt },
            new DsnRecipientReport { Recipient = carol, Action = DsnAction.Relayed, Status = new(2, 0, 0), Reply = ok, RemoteMta = "mail.fabrikam.example" })!;
        MimeMessage message = Parse(dsn);
        Assert.Equal("Successful Mail Delivery Report", message.Subject);
        var groups = ((MessageDeliveryStatus)(Assert.IsType<MultipartReport>(message.Body))[1]).StatusGroups;
        Assert.Equal("delivered", groups[1]["Action"]);
        Assert.Equal("2.0.0", groups[1]["Status"]);
        Assert.Equal("smtp; 250 2.0.0 Ok: queued as 4XyZ", groups[1]["Diagnostic-Code"]);
        Assert.Equal("relayed", groups[2]["Action"]);
        Assert.Equal("dns; mail.fabrikam.example", groups[2]["Remote-MTA"]);
        Assert.IsType<TextRfc822Headers>((Assert.IsType<MultipartReport>(message.Body))[2]);
    }

    [Theory]
    [InlineData(DsnNotify.None, DsnAction.Failed, true)]
    [InlineData(DsnNotify.None, DsnAction.Delayed, true)]
    [InlineData(DsnNotify.None, DsnAction.Delivered, false)]
    [InlineData(DsnNotify.Never, DsnAction.Failed, false)]
    [InlineData(DsnNotify.Never, DsnAction.Delayed, false)]
    [InlineData(DsnNotify.Never, DsnAction.Delivered, false)]
    [InlineData(DsnNotify.Failure, DsnAction.Failed, true)]
    [InlineData(DsnNotify.Failure, DsnAction.Delayed, false)]
    [InlineData(DsnNotify.Failure, DsnAction.Delivered, false)]
    [InlineData(DsnNotify.Delay, DsnAction.Failed, false)]
    [InlineData(DsnNotify.Delay, DsnAction.Delayed, true)]
    [InlineData(DsnNotify.Success, DsnAction.Failed, false)]
    [InlineData(DsnNotify.Success, DsnAction.Delivered, true)]
    [InlineData(DsnNotify.Success, DsnAction.Relayed, true)]
    [InlineData(DsnNotify.Success, DsnAction.Expanded, true)]
    [InlineData(DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay, DsnAction.Delayed, true)]
    [InlineData(DsnNotify.Success | DsnNotify.Failure, DsnAction.Failed, true)]
    [InlineData(DsnNotify.Success | DsnNotify.Failure, DsnAction.Delayed, false)]
    public void Notify_matrix(DsnNotify notify, DsnAction action, bool requested)
    {
        var recipient = new EnvelopeRecipient { Address = "bob@fabrikam.example", Notify = notify };
        Assert.Equal(requested, DeliveryStatusNotificationRules.IsRequested(recipient, action));

        var report = new DsnRecipientReport { Recipient = recipient, Action = action, Status = action == DsnAction.Failed ? new(5, 0, 0) : action == DsnAction.Delayed ? new(4, 0, 0) : new(2, 0, 0) };
        DeliveryStatusNotification? dsn = Build(OriginalEnvelope(), Original, report);
        Assert.Equal(requested, dsn is not null);
    }

    [Fact]
    public void Absent_notify_means_failure_and_delay()
    {
        Assert.Equal(DsnNotify.Failure | DsnNotify.Delay, DeliveryStatusNotificationRules.EffectiveNotify(DsnNotify.None));
        Assert.Equal(DsnNotify.Success, DeliveryStatusNotificationRules.EffectiveNotify(DsnNotify.Success));
    }

    [Fact]
    public void Only_recipients_whose_notify_asks_are_reported()
    {
        DsnRecipientReport never = Failed("never@fabrikam.example") with { Recipient = new() { Address = "never@fabrikam.example", Notify = DsnNotify.Never } };
        DeliveryStatusNotification dsn = Build(OriginalEnvelope(), Original, never, Failed("bob@fabrikam.example"))!;
        var groups = ((MessageDeliveryStatus)Report(dsn)[1]).StatusGroups;
        Assert.Equal(2, groups.Count);
        Assert.Equal("rfc822; bob@fabrikam.example", groups[1]["Final-Recipient"]);
        Assert.DoesNotContain("never@", Encoding.ASCII.GetString(dsn.Content), StringComparison.Ordinal);
        Assert.Single(dsn.Reports);
    }

    [Fact]
    public void No_dsn_to_the_null_sender()
    {
        Envelope bounce = OriginalEnvelope() with { Sender = "" };
        Assert.Equal(DsnSuppression.NullSender, DeliveryStatusNotificationRules.CheckReturnPath(bounce, null));
        Assert.Null(Build(bounce, Original, Failed("bob@fabrikam.example")));
    }

    [Theory]
    [InlineData("MAILER-DAEMON@other.example", "auto-replied", DsnSuppression.AutomaticFromMailerDaemon)]
    [InlineData("mailer-daemon@other.example", "auto-generated; owner-email=x@y", DsnSuppression.AutomaticFromMailerDaemon)]
    [InlineData("MAILER-DAEMON@other.example", "no", DsnSuppression.None)]
    [InlineData("MAILER-DAEMON@other.example", null, DsnSuppression.None)]
    [InlineData("alice@contoso.example", "auto-replied", DsnSuppression.None)]
    public void No_dsn_to_an_automatic_message_from_mailer_daemon(string sender, string? autoSubmitted, DsnSuppression expected)
    {
        string text = (autoSubmitted is null ? "" : "Auto-Submitted: " + autoSubmitted + "\r\n") + "Subject: x\r\n\r\nbody\r\n";
        byte[] original = Encoding.ASCII.GetBytes(text);
        Envelope envelope = OriginalEnvelope() with { Sender = sender };
        var headers = HeaderList.Load(new MemoryStream(original));
        Assert.Equal(expected, DeliveryStatusNotificationRules.CheckReturnPath(envelope, headers));
        Assert.Equal(expected == DsnSuppression.None, Build(envelope, original, Failed("bob@fabrikam.example")) is not null);
    }

    [Fact]
    public void Dsn_envelope_has_the_null_sender_and_never_asks_for_a_dsn()
    {
        DeliveryStatusNotification dsn = Build(OriginalEnvelope(), Original, Failed("bob@fabrikam.example"))!;
        Envelope envelope = dsn.CreateEnvelope("0MX16OTSZ0001WD3MS", HostName, LastAttempt);
        Assert.Equal("", envelope.Sender);
        EnvelopeRecipient recipient = Assert.Single(envelope.Recipients);
        Assert.Equal("alice@contoso.example", recipient.Address);
        Assert.Equal(DsnNotify.Never, recipient.Notify);
        Assert.Equal(dsn.Content.Length, envelope.DeclaredSize);
        // A DSN about the DSN is never sent.
        Assert.Null(Build(envelope, dsn.Content, Failed("alice@contoso.example")));
    }

    [Fact]
    public void Smtputf8_original_gets_global_parts()
    {
        byte[] original = Encoding.UTF8.GetBytes("From: José <josé@contoso.example>\r\nSubject: Prévisions\r\n\r\nCorps du message.\r\n");
        Envelope envelope = OriginalEnvelope() with { Sender = "josé@contoso.example", SmtpUtf8 = true };
        DsnRecipientReport report = Failed("bob@fabrikam.example") with
        {
            Recipient = new EnvelopeRecipient { Address = "zoë@fabrikam.example", OriginalRecipient = "utf-8;zoë@fabrikam.example" },
        };
        DeliveryStatusNotification dsn = Build(envelope, original, report)!;
        Assert.True(dsn.SmtpUtf8);
        Assert.Equal(BodyType.EightBitMime, dsn.Body);
        Assert.Equal("josé@contoso.example", dsn.Recipient);
        AssertCrlfOnly(dsn.Content);

        MimeMessage message = Parse(dsn);
        Assert.Equal("josé@contoso.example", ((MailboxAddress)message.To[0]).Address);
        MultipartReport multipart = Assert.IsType<MultipartReport>(message.Body);
        MessageDeliveryStatus status = Assert.IsType<MessageDeliveryStatus>(multipart[1]);
        Assert.Equal("message/global-delivery-status", status.ContentType.MimeType);
        Assert.Equal("utf-8; zoë@fabrikam.example", status.StatusGroups[1]["Final-Recipient"]);
        Assert.Equal("utf-8; zoë@fabrikam.example", status.StatusGroups[1]["Original-Recipient"]);
        Assert.Equal("message/global-headers", multipart[2].ContentType.MimeType);
        Assert.Contains("Subject: Prévisions\r\n", Encoding.UTF8.GetString(dsn.Content), StringComparison.Ordinal);

        DeliveryStatusNotification full = Build(envelope with { Return = DsnReturn.Full }, original, report)!;
        Entity returned = new(Report(full)[2]);
        Assert.Equal("message/global", returned.Part.ContentType.MimeType);
        Assert.Contains("Corps du message.", Encoding.UTF8.GetString(full.Content), StringComparison.Ordinal);
    }

    [Fact]
    public void Report_from_state_takes_the_recorded_reason()
    {
        var state = new RecipientDeliveryState
        {
            Address = "bob@fabrikam.example",
            Status = RecipientStatus.Expired,
            Attempts = 12,
            LastAttemptAt = LastAttempt,
            LastReply = RecordedReply.Local(454, new EnhancedStatusCode(4, 7, 4), TlsReason),
            RemoteMta = "mail.contoso.example [192.0.2.25]",
            Connector = "To Contoso",
        };
        var recipient = new EnvelopeRecipient { Address = "bob@fabrikam.example" };
        DsnRecipientReport report = DsnRecipientReport.FromState(recipient, state, DsnAction.Failed);
        Assert.Equal(new EnhancedStatusCode(5, 4, 7), report.Status);
        Assert.Equal(12, report.Attempts);
        Assert.Equal("To Contoso", report.Connector);
        Assert.Null(report.WillRetryUntil);
        Assert.Equal(TlsReason, DeliveryStatusNotificationBuilder.Reason(report));

        DsnRecipientReport noReply = DsnRecipientReport.FromState(recipient, state with { LastReply = null }, DsnAction.Failed);
        Assert.Equal(new EnhancedStatusCode(5, 4, 7), noReply.Status);
        DsnRecipientReport failed = DsnRecipientReport.FromState(recipient, state with { Status = RecipientStatus.Failed }, DsnAction.Failed);
        Assert.Equal(new EnhancedStatusCode(4, 7, 4), failed.Status);
        DsnRecipientReport delayed = DsnRecipientReport.FromState(recipient, state with { Status = RecipientStatus.Deferred, LastReply = null }, DsnAction.Delayed, Expires);
        Assert.Equal(new EnhancedStatusCode(4, 0, 0), delayed.Status);
        Assert.Equal(Expires, delayed.WillRetryUntil);
    }

    [Fact]
    public void Subject_follows_the_worst_action()
    {
        Assert.Equal("Undelivered Mail Returned to Sender", DeliveryStatusNotificationBuilder.Subject([Delayed("a@x.example"), Failed("b@x.example")]));
        Assert.Equal("Delayed Mail (still being retried)", DeliveryStatusNotificationBuilder.Subject([Delayed("a@x.example")]));
    }

    private static DeliveryStatusNotification? Build(Envelope envelope, byte[] original, params DsnRecipientReport[] reports) =>
        Builder.Build(envelope, new MemoryStream(original), reports);

    private static MultipartReport Report(DeliveryStatusNotification dsn) => Assert.IsType<MultipartReport>(Parse(dsn).Body);

    private static MimeMessage Parse(DeliveryStatusNotification dsn) => MimeMessage.Load(new MemoryStream(dsn.Content));

    private static string DateUtilsFormat(DateTimeOffset date) => MimeKit.Utils.DateUtils.FormatDate(date);

    private static void AssertCrlfOnly(byte[] bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == '\n')
            {
                Assert.True(i > 0 && bytes[i - 1] == '\r', $"bare LF at {i}");
            }
        }
    }

    private static Envelope OriginalEnvelope() => SpoolSamples.Envelope("0MX16OTSZ0001AAAAA") with { ReceivedAt = Received };

    private static DsnRecipientReport Failed(string address, string? orcpt = null) => new()
    {
        Recipient = new EnvelopeRecipient { Address = address, OriginalRecipient = orcpt },
        Action = DsnAction.Failed,
        Status = new EnhancedStatusCode(4, 7, 4),
        Reply = RecordedReply.Local(454, new EnhancedStatusCode(4, 7, 4), TlsReason),
        RemoteMta = "mail.contoso.example [192.0.2.25]",
        Connector = "To Contoso",
        Attempts = 7,
        LastAttemptAt = LastAttempt,
    };

    private static DsnRecipientReport RemoteFailed(string address) => new()
    {
        Recipient = new EnvelopeRecipient { Address = address },
        Action = DsnAction.Failed,
        Status = new EnhancedStatusCode(5, 1, 1),
        Reply = new RecordedReply { Code = 550, EnhancedStatus = "5.1.1", Text = "User unknown" },
        RemoteMta = "mail.contoso.example [192.0.2.25]",
        Attempts = 1,
        LastAttemptAt = LastAttempt,
    };

    private static DsnRecipientReport Delayed(string address) => Failed(address) with { Action = DsnAction.Delayed, WillRetryUntil = Expires };

    private sealed record Entity(MimeEntity Part);

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
