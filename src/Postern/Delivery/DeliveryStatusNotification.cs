using Postern.Smtp;
using Postern.Spool;

namespace Postern.Delivery;

/// <summary>RFC 3464 section 2.3.3 Action values.</summary>
public enum DsnAction
{
    /// <summary>Could not be delivered and will not be retried.</summary>
    Failed,

    /// <summary>Not delivered yet; still being retried.</summary>
    Delayed,

    /// <summary>Delivered to the next hop, which took over the responsibility (and supports DSN).</summary>
    Delivered,

    /// <summary>Relayed to a next hop that does not pass DSN requests on.</summary>
    Relayed,

    /// <summary>Delivered to an address that was expanded into other recipients.</summary>
    Expanded,
}

/// <summary>What a DSN says about one recipient: one per-recipient block of RFC 3464 section 2.3.</summary>
public sealed record DsnRecipientReport
{
    /// <summary>The envelope recipient (address, NOTIFY, ORCPT).</summary>
    public required EnvelopeRecipient Recipient { get; init; }

    public required DsnAction Action { get; init; }

    /// <summary>The RFC 3463 status of the Status field.</summary>
    public required EnhancedStatusCode Status { get; init; }

    /// <summary>The last reply or diagnostic; the reason the human-readable part gives.</summary>
    public RecordedReply? Reply { get; init; }

    /// <summary>The server of the last attempt, "host [ip]" or "host", when known.</summary>
    public string? RemoteMta { get; init; }

    /// <summary>The outbound connector of the last attempt, when one was used.</summary>
    public string? Connector { get; init; }

    public int Attempts { get; init; }

    public DateTimeOffset? LastAttemptAt { get; init; }

    /// <summary>For <see cref="DsnAction.Delayed"/>: when the message expires.</summary>
    public DateTimeOffset? WillRetryUntil { get; init; }

    /// <summary>
    /// A report from a recipient's delivery state. An expired recipient is reported failed with
    /// 5.4.7 (RFC 3463: delivery time expired); the last reason stays in the diagnostic. Otherwise
    /// the status is the last reply's enhanced status when it has one, else 5.0.0 for failed,
    /// 4.0.0 for delayed and 2.0.0 for the others.
    /// </summary>
    public static DsnRecipientReport FromState(
        EnvelopeRecipient recipient,
        RecipientDeliveryState state,
        DsnAction action,
        DateTimeOffset? willRetryUntil = null)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        ArgumentNullException.ThrowIfNull(state);
        EnhancedStatusCode status;
        if (action == DsnAction.Failed && state.Status == RecipientStatus.Expired)
        {
            status = new EnhancedStatusCode(5, 4, 7);
        }
        else if (state.LastReply?.EnhancedStatus is { } text && EnhancedStatusCode.TryParse(text, out EnhancedStatusCode? parsed))
        {
            status = parsed.Value;
        }
        else
        {
            status = action switch
            {
                DsnAction.Failed => new EnhancedStatusCode(5, 0, 0),
                DsnAction.Delayed => new EnhancedStatusCode(4, 0, 0),
                _ => new EnhancedStatusCode(2, 0, 0),
            };
        }
        return new DsnRecipientReport
        {
            Recipient = recipient,
            Action = action,
            Status = status,
            Reply = state.LastReply,
            RemoteMta = state.RemoteMta,
            Connector = state.Connector,
            Attempts = state.Attempts,
            LastAttemptAt = state.LastAttemptAt,
            WillRetryUntil = action == DsnAction.Delayed ? willRetryUntil : null,
        };
    }
}

/// <summary>Why no DSN is sent.</summary>
public enum DsnSuppression
{
    /// <summary>A DSN is sent.</summary>
    None,

    /// <summary>The original had the null reverse-path &lt;&gt; (it is a DSN itself): a bounce of a bounce is dropped.</summary>
    NullSender,

    /// <summary>The original came from MAILER-DAEMON with Auto-Submitted other than "no" (RFC 3834): a loop.</summary>
    AutomaticFromMailerDaemon,

    /// <summary>NOTIFY asks for no report on any of the recipients (NEVER, or not this kind).</summary>
    NotRequested,
}

/// <summary>
/// A built RFC 3464 delivery status notification: the message bytes (CRLF) and its envelope,
/// ready to be committed to the spool as a new message.
/// </summary>
public sealed class DeliveryStatusNotification
{
    internal DeliveryStatusNotification(string recipient, byte[] content, bool smtpUtf8, BodyType body, string messageId, IReadOnlyList<DsnRecipientReport> reports)
    {
        Recipient = recipient;
        Content = content;
        SmtpUtf8 = smtpUtf8;
        Body = body;
        MessageId = messageId;
        Reports = reports;
    }

    /// <summary>The reverse-path of the DSN: always the null sender (RFC 3461 section 6.2), so no DSN is ever answered.</summary>
    public string Sender => "";

    /// <summary>The original message's reverse-path.</summary>
    public string Recipient { get; }

    /// <summary>The whole DSN, headers and body, CRLF line endings.</summary>
    public byte[] Content { get; }

    /// <summary>True when the DSN carries UTF-8 headers (RFC 6533 message/global-*): it needs SMTPUTF8.</summary>
    public bool SmtpUtf8 { get; }

    /// <summary>SevenBit, or EightBitMime when a part carries 8-bit bytes.</summary>
    public BodyType Body { get; }

    /// <summary>The DSN's Message-ID, without angle brackets.</summary>
    public string MessageId { get; }

    /// <summary>The recipients it reports on (those whose NOTIFY asked for it).</summary>
    public IReadOnlyList<DsnRecipientReport> Reports { get; }

    /// <summary>The spool envelope for the DSN: null sender, one recipient, NOTIFY=NEVER.</summary>
    public Envelope CreateEnvelope(string queueId, string hostName, DateTimeOffset receivedAt) => new()
    {
        QueueId = queueId,
        Sender = Sender,
        Recipients = [new EnvelopeRecipient { Address = Recipient, Notify = DsnNotify.Never }],
        Body = Body,
        SmtpUtf8 = SmtpUtf8,
        Return = DsnReturn.Headers,
        DeclaredSize = Content.Length,
        ClientAddress = "127.0.0.1",
        HeloName = hostName,
        Protocol = "local",
        Listener = "local",
        ReceivedAt = receivedAt,
    };
}
