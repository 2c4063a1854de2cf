using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Utils;
using Postern.Smtp;
using Postern.Spool;

namespace Postern.Delivery;

/// <summary>
/// Builds RFC 3464 delivery status notifications: <c>multipart/report; report-type=delivery-status</c>
/// with a human-readable part that gives each recipient's reason as recorded, a
/// <c>message/delivery-status</c> part, and the original headers (<c>text/rfc822-headers</c>) or,
/// for a failure with RET=FULL, the whole original (<c>message/rfc822</c>). An SMTPUTF8 original
/// gets the RFC 6533 <c>message/global-delivery-status</c>, <c>message/global-headers</c> and
/// <c>message/global</c> instead.
/// </summary>
public sealed class DeliveryStatusNotificationBuilder
{
    private const int HeaderScanLimit = 1024 * 1024;

    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <param name="hostName">The gateway's host name (<c>gateway.hostName</c>): Reporting-MTA and MAILER-DAEMON's domain.</param>
    public DeliveryStatusNotificationBuilder(string hostName, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(hostName);
        HostName = hostName;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The reporting MTA's host name.</summary>
    public string HostName { get; }

    /// <summary>
    /// Largest original returned whole with RET=FULL; a larger one is returned as headers only
    /// (and the human part says so). 10 MiB by default.
    /// </summary>
    public long MaximumReturnedSize { get; init; } = 10 * 1024 * 1024;

    /// <summary>
    /// Builds the DSN for <paramref name="reports"/> about <paramref name="original"/>, whose bytes
    /// are read from <paramref name="content"/> (from its current position to its end). Returns null,
    /// logged, when no DSN is due: the reverse-path is the null sender or an automatic MAILER-DAEMON,
    /// or no recipient's NOTIFY asks for a report of its action.
    /// </summary>
    public DeliveryStatusNotification? Build(Envelope original, Stream content, IReadOnlyList<DsnRecipientReport> reports)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(reports);

        var requested = reports.Where(r => DeliveryStatusNotificationRules.IsRequested(r.Recipient, r.Action)).ToList();
        if (requested.Count == 0)
        {
            DeliveryStatusNotificationLog.NotRequested(_logger, original.QueueId, reports.Count);
            return null;
        }

        bool failure = requested.Any(r => r.Action == DsnAction.Failed);
        // RFC 3461 section 4.3: RET applies to failure reports only; others carry the headers.
        bool wantFull = failure && original.Return == DsnReturn.Full;
        byte[] returned = ReadOriginal(content, wantFull, out bool isFull, out byte[] headerBytes);
        string? fullOmitted = null;
        if (wantFull && !isFull)
        {
            fullOmitted = $"The message was larger than {MaximumReturnedSize.ToString(CultureInfo.InvariantCulture)} bytes; only its headers are returned.";
        }
        else if (isFull && original.Body == BodyType.BinaryMime)
        {
            // A BINARYMIME original cannot travel inside a DSN sent with DATA.
            returned = headerBytes;
            isFull = false;
            fullOmitted = "The message was sent as binary MIME; only its headers are returned.";
        }

        HeaderList? headers = ParseHeaders(headerBytes);
        DsnSuppression suppression = DeliveryStatusNotificationRules.CheckReturnPath(original, headers);
        if (suppression != DsnSuppression.None)
        {
            DeliveryStatusNotificationLog.Suppressed(_logger, original.QueueId, original.Sender, suppression);
            return null;
        }

        bool global = original.SmtpUtf8;
        DateTimeOffset now = _time.GetUtcNow();
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Mail Delivery System", "MAILER-DAEMON@" + HostName));
        message.To.Add(new MailboxAddress("", original.Sender));
        message.Subject = Subject(requested);
        message.Date = now;
        message.MessageId = MimeUtils.GenerateMessageId(HostName);
        message.Headers.Add(HeaderId.AutoSubmitted, "auto-replied");

        var report = new MultipartReport("delivery-status")
        {
            HumanPart(original, requested, fullOmitted, global),
            StatusPart(original, requested, global),
            ReturnedPart(returned, isFull, global),
        };
        message.Body = report;

        var options = new FormatOptions { NewLineFormat = NewLineFormat.Dos, International = global, EnsureNewLine = true };
        using var output = new MemoryStream();
        message.WriteTo(options, output);
        byte[] bytes = output.ToArray();
        BodyType body = global || bytes.Any(b => b >= 0x80) ? BodyType.EightBitMime : BodyType.SevenBit;

        DeliveryStatusNotificationLog.Built(_logger, original.QueueId, message.MessageId, original.Sender, requested.Count);
        return new DeliveryStatusNotification(original.Sender, bytes, global, body, message.MessageId, requested);
    }

    /// <summary>"Undelivered Mail Returned to Sender" when anything failed, else the delay or success subject.</summary>
    public static string Subject(IReadOnlyList<DsnRecipientReport> reports)
    {
        ArgumentNullException.ThrowIfNull(reports);
        if (reports.Any(r => r.Action == DsnAction.Failed))
        {
            return "Undelivered Mail Returned to Sender";
        }
        if (reports.Any(r => r.Action == DsnAction.Delayed))
        {
            return "Delayed Mail (still being retried)";
        }
        return "Successful Mail Delivery Report";
    }

    /// <summary>
    /// The reason given for one recipient: a local diagnostic as recorded, e.g. "TLS is required by
    /// connector 'To Contoso' and mail.contoso.example did not offer STARTTLS"; a remote reply as
    /// "host mail.contoso.example [192.0.2.25] said: 550 5.1.1 User unknown".
    /// </summary>
    public static string Reason(DsnRecipientReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        if (report.Reply is not { } reply)
        {
            return report.Action switch
            {
                DsnAction.Failed => $"delivery failed ({report.Status})",
                DsnAction.Delayed => $"delivery is being retried ({report.Status})",
                _ => $"delivered ({report.Status})",
            };
        }
        if (reply.IsLocal)
        {
            return reply.Text;
        }
        return report.RemoteMta is { } remote ? $"host {remote} said: {reply}" : $"the remote server said: {reply}";
    }

    private MimePart HumanPart(Envelope original, List<DsnRecipientReport> reports, string? fullOmitted, bool global)
    {
        var text = new StringBuilder();
        text.Append("This is the mail system at host ").Append(HostName).Append(".\r\n\r\n");
        AppendSection(text, reports, DsnAction.Failed,
            "Your message could not be delivered to the recipients below, for the reasons given. It will not be retried.");
        AppendSection(text, reports, DsnAction.Delayed,
            "Your message has not been delivered yet to the recipients below. Delivery is still being retried; you do not need to send it again.");
        AppendSection(text, reports, DsnAction.Delivered, "Your message was delivered to the recipients below.");
        AppendSection(text, reports, DsnAction.Relayed,
            "Your message was relayed to the recipients below; the next server does not report delivery status, so no further notice will follow.");
        AppendSection(text, reports, DsnAction.Expanded, "Your message was delivered to the recipients below, which forward it to further addresses.");
        if (fullOmitted is not null)
        {
            text.Append(fullOmitted).Append("\r\n\r\n");
        }
        text.Append("Queue id ").Append(original.QueueId).Append(", received ")
            .Append(DateUtils.FormatDate(original.ReceivedAt)).Append(".\r\n");

        var part = new TextPart("plain");
        part.SetText(Encoding.UTF8, text.ToString());
        part.ContentType.Charset = IsAscii(text) ? "us-ascii" : "utf-8";
        part.ContentTransferEncoding = part.GetBestEncoding(global ? EncodingConstraint.EightBit : EncodingConstraint.SevenBit);
        part.ContentDescription = "Notification";
        return part;
    }

    private static void AppendSection(StringBuilder text, List<DsnRecipientReport> reports, DsnAction action, string intro)
    {
        var matching = reports.Where(r => r.Action == action).ToList();
        if (matching.Count == 0)
        {
            return;
        }
        text.Append(intro).Append("\r\n\r\n");
        foreach (DsnRecipientReport report in matching)
        {
            text.Append('<').Append(report.Recipient.Address).Append(">: ").Append(OneLine(Reason(report))).Append("\r\n");
            var facts = new List<string>();
            if (report.Connector is { } connector)
            {
                facts.Add($"connector '{connector}'");
            }
            if (report.Attempts > 0)
            {
                facts.Add(report.Attempts == 1 ? "1 attempt" : $"{report.Attempts.ToString(CultureInfo.InvariantCulture)} attempts");
            }
            if (report.LastAttemptAt is { } last)
            {
                facts.Add("last " + DateUtils.FormatDate(last));
            }
            if (report.WillRetryUntil is { } until)
            {
                facts.Add("retried until " + DateUtils.FormatDate(until));
            }
            if (facts.Count > 0)
            {
                text.Append("    (").Append(string.Join(", ", facts)).Append(")\r\n");
            }
        }
        text.Append("\r\n");
    }

    private MimePart StatusPart(Envelope original, List<DsnRecipientReport> reports, bool global)
    {
        // RFC 3464 section 2.2: per-message fields, then one block per recipient, blank-line separated.
        var text = new StringBuilder();
        Field(text, "Reporting-MTA", "dns; " + HostName);
        Field(text, "X-Postern-Queue-ID", original.QueueId);
        if (original.EnvelopeId is { Length: > 0 } envelopeId)
        {
            Field(text, "Original-Envelope-Id", XText.Encode(envelopeId));
        }
        Field(text, "Arrival-Date", DateUtils.FormatDate(original.ReceivedAt));
        foreach (DsnRecipientReport report in reports)
        {
            text.Append("\r\n");
            if (OriginalRecipient(report.Recipient.OriginalRecipient, global) is { } orcpt)
            {
                Field(text, "Original-Recipient", orcpt);
            }
            Field(text, "Final-Recipient", AddressField(report.Recipient.Address, global));
            Field(text, "Action", report.Action.ToString().ToLowerInvariant());
            Field(text, "Status", report.Status.ToString());
            if (RemoteHost(report.RemoteMta) is { } remote)
            {
                Field(text, "Remote-MTA", "dns; " + remote);
            }
            if (report.Reply is { } reply)
            {
                // RFC 3464 section 2.3.6: diagnostic-type "smtp" for a server's reply; the gateway's own reasons are typed X-Postern.
                Field(text, "Diagnostic-Code", (reply.IsLocal ? "X-Postern; " : "smtp; ") + Printable(OneLine(reply.ToString()), global));
            }
            if (report.LastAttemptAt is { } last)
            {
                Field(text, "Last-Attempt-Date", DateUtils.FormatDate(last));
            }
            if (report.Action == DsnAction.Delayed && report.WillRetryUntil is { } until)
            {
                Field(text, "Will-Retry-Until", DateUtils.FormatDate(until));
            }
        }

        byte[] bytes = Encoding.UTF8.GetBytes(text.ToString());
        var part = new MimePart("message", global ? "global-delivery-status" : "delivery-status")
        {
            Content = new MimeContent(new MemoryStream(bytes), global ? ContentEncoding.EightBit : ContentEncoding.SevenBit),
            ContentTransferEncoding = global ? ContentEncoding.EightBit : ContentEncoding.SevenBit,
        };
        return part;
    }

    private static MimePart ReturnedPart(byte[] returned, bool isFull, bool global)
    {
        (string type, string subtype) = (isFull, global) switch
        {
            (true, false) => ("message", "rfc822"),
            (true, true) => ("message", "global"),
            (false, false) => ("text", "rfc822-headers"),
            (false, true) => ("message", "global-headers"),
        };
        ContentEncoding encoding = returned.Any(b => b >= 0x80) ? ContentEncoding.EightBit : ContentEncoding.SevenBit;
        return new MimePart(type, subtype)
        {
            Content = new MimeContent(new MemoryStream(returned), encoding),
            ContentTransferEncoding = encoding,
            ContentDescription = isFull ? "Undelivered Message" : "Undelivered Message Headers",
        };
    }

    /// <summary>
    /// Reads the original: always its header section (up to the blank line, excluded), and the whole
    /// message when it is wanted and not larger than <see cref="MaximumReturnedSize"/>.
    /// </summary>
    private byte[] ReadOriginal(Stream content, bool wantFull, out bool isFull, out byte[] headerBytes)
    {
        var buffer = new MemoryStream();
        long limit = wantFull ? MaximumReturnedSize : HeaderScanLimit;
        byte[] chunk = new byte[16 * 1024];
        int headerEnd = -1;
        bool truncated = false;
        while (true)
        {
            int read = content.Read(chunk, 0, chunk.Length);
            if (read == 0)
            {
                break;
            }
            buffer.Write(chunk, 0, read);
            if (headerEnd < 0)
            {
                headerEnd = FindHeaderEnd(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
                if (headerEnd >= 0 && !wantFull)
                {
                    break;
                }
            }
            if (buffer.Length > limit)
            {
                truncated = true;
                break;
            }
        }
        byte[] all = buffer.ToArray();
        if (headerEnd < 0)
        {
            headerEnd = FindHeaderEnd(all);
        }
        // Without a blank line the whole (scanned) text is headers.
        int headerLength = headerEnd >= 0 ? headerEnd : all.Length;
        headerBytes = all.AsSpan(0, Math.Min(headerLength, HeaderScanLimit)).ToArray();
        isFull = wantFull && !truncated;
        return isFull ? all : headerBytes;
    }

    /// <summary>Offset just after the last header line's CRLF (before the blank line), or -1.</summary>
    private static int FindHeaderEnd(ReadOnlySpan<byte> bytes)
    {
        if (bytes.StartsWith("\r\n"u8))
        {
            return 0;
        }
        int index = bytes.IndexOf("\r\n\r\n"u8);
        return index < 0 ? -1 : index + 2;
    }

    private static HeaderList? ParseHeaders(byte[] headerBytes)
    {
        try
        {
            using var stream = new MemoryStream(headerBytes.Length + 2);
            stream.Write(headerBytes);
            stream.Write("\r\n"u8);
            stream.Position = 0;
            return HeaderList.Load(stream);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static void Field(StringBuilder text, string name, string value) => text.Append(name).Append(": ").Append(value).Append("\r\n");

    /// <summary>"rfc822; addr", or RFC 6533 "utf-8; addr" for an internationalized address.</summary>
    private static string AddressField(string address, bool global)
    {
        if (IsAscii(address))
        {
            return "rfc822; " + address;
        }
        return global ? "utf-8; " + address : "rfc822; " + XText.Encode(address);
    }

    private static string? OriginalRecipient(string? orcpt, bool global)
    {
        if (string.IsNullOrEmpty(orcpt))
        {
            return null;
        }
        int semicolon = orcpt.IndexOf(';');
        string type = semicolon < 0 ? "rfc822" : orcpt[..semicolon].Trim();
        string address = semicolon < 0 ? orcpt : orcpt[(semicolon + 1)..].Trim();
        if (!global && !IsAscii(address))
        {
            address = XText.Encode(address);
        }
        return type + "; " + address;
    }

    /// <summary>The host of "host [ip]"; an address literal alone is kept as it is.</summary>
    private static string? RemoteHost(string? remoteMta)
    {
        if (string.IsNullOrWhiteSpace(remoteMta))
        {
            return null;
        }
        string trimmed = remoteMta.Trim();
        int space = trimmed.IndexOf(' ');
        return space > 0 ? trimmed[..space] : trimmed;
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    private static string Printable(string text, bool global)
    {
        if (global || IsAscii(text))
        {
            return text;
        }
        var builder = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            builder.Append(c < 0x80 ? c : '?');
        }
        return builder.ToString();
    }

    private static bool IsAscii(string text) => Ascii.IsValid(text);

    private static bool IsAscii(StringBuilder text)
    {
        foreach (ReadOnlyMemory<char> chunk in text.GetChunks())
        {
            if (!Ascii.IsValid(chunk.Span))
            {
                return false;
            }
        }
        return true;
    }
}
