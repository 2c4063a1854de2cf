using MimeKit;
using Postern.Spool;

namespace Postern.Delivery;

/// <summary>When a DSN is sent and to whom: RFC 3461 NOTIFY, RFC 3461 section 6.2 and RFC 3834 loop rules.</summary>
public static class DeliveryStatusNotificationRules
{
    /// <summary>
    /// NOTIFY in effect: an absent NOTIFY means FAILURE,DELAY. RFC 3461 section 4.1 leaves the
    /// default to the implementation ("FAILURE" or "FAILURE,DELAY"); senders are told about delays.
    /// </summary>
    public static DsnNotify EffectiveNotify(DsnNotify notify) =>
        notify == DsnNotify.None ? DsnNotify.Failure | DsnNotify.Delay : notify;

    /// <summary>True when the recipient's NOTIFY asks for a report with this action.</summary>
    public static bool IsRequested(EnvelopeRecipient recipient, DsnAction action)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        DsnNotify notify = EffectiveNotify(recipient.Notify);
        if (notify.HasFlag(DsnNotify.Never))
        {
            return false;
        }
        return action switch
        {
            DsnAction.Failed => notify.HasFlag(DsnNotify.Failure),
            DsnAction.Delayed => notify.HasFlag(DsnNotify.Delay),
            // RFC 3461 section 6.2.1: relayed and expanded are reported when SUCCESS was asked for.
            _ => notify.HasFlag(DsnNotify.Success),
        };
    }

    /// <summary>
    /// Whether the original's reverse-path may receive a DSN at all: never the null sender (the
    /// original is a DSN or another automatic message, RFC 3461 section 6.2), and never an
    /// automatic message from MAILER-DAEMON (<c>Auto-Submitted</c> other than "no", RFC 3834 section 2),
    /// which would start a loop.
    /// </summary>
    public static DsnSuppression CheckReturnPath(Envelope original, HeaderList? originalHeaders)
    {
        ArgumentNullException.ThrowIfNull(original);
        if (original.Sender.Length == 0)
        {
            return DsnSuppression.NullSender;
        }
        int at = original.Sender.LastIndexOf('@');
        string localPart = at < 0 ? original.Sender : original.Sender[..at];
        if (string.Equals(localPart, "MAILER-DAEMON", StringComparison.OrdinalIgnoreCase)
            && originalHeaders?[HeaderId.AutoSubmitted] is { } autoSubmitted
            && !IsNo(autoSubmitted))
        {
            return DsnSuppression.AutomaticFromMailerDaemon;
        }
        return DsnSuppression.None;
    }

    // RFC 3834 section 5: auto-submitted-field = "no" / "auto-generated" / "auto-replied" / extension, with optional parameters.
    private static bool IsNo(string value)
    {
        ReadOnlySpan<char> token = value.AsSpan().Trim();
        int semicolon = token.IndexOf(';');
        if (semicolon >= 0)
        {
            token = token[..semicolon].TrimEnd();
        }
        return token.Equals("no", StringComparison.OrdinalIgnoreCase);
    }
}
