using Postern.Spool;

namespace Postern.Smtp;

public enum SmtpVerb { Unknown, Helo, Ehlo, Mail, Rcpt, Data, Bdat, Rset, Noop, Quit, Vrfy, Expn, Help, StartTls, Auth }

/// <summary>A command line split into its verb and the rest.</summary>
/// <param name="Verb">The recognised verb (case-insensitive), or Unknown.</param>
/// <param name="VerbText">The verb as sent (for error messages), at most 16 chars.</param>
/// <param name="Argument">Everything after the verb and one space, trailing spaces trimmed; "" when none.</param>
public readonly record struct SmtpCommand(SmtpVerb Verb, string VerbText, string Argument);

public enum LineStatus
{
    /// <summary>No complete line yet; nothing consumed beyond what the reader already passed.</summary>
    NeedMore,
    /// <summary>A line ending in CRLF; the line excludes the CRLF.</summary>
    Complete,
    /// <summary>A line longer than the limit was consumed up to and including its LF, and discarded.</summary>
    TooLong,
    /// <summary>A line ending in LF without CR (or holding a bare CR) was consumed and discarded.</summary>
    BareLineEnding,
}

/// <summary>MAIL FROM, parsed (RFC 5321 4.1.1.2, RFC 1870, RFC 6152, RFC 6531, RFC 3461, RFC 3030).</summary>
public sealed record MailFromCommand
{
    /// <summary>"local@domain" without brackets; "" for the null reverse-path.</summary>
    public required string Sender { get; init; }
    public long? Size { get; init; }
    public BodyType Body { get; init; }
    public bool SmtpUtf8 { get; init; }
    public DsnReturn Return { get; init; }
    public string? EnvelopeId { get; init; }
}

/// <summary>RCPT TO, parsed (RFC 5321 4.1.1.3, RFC 3461).</summary>
public sealed record RcptToCommand
{
    /// <summary>"local@domain" (or "postmaster") without brackets.</summary>
    public required string Recipient { get; init; }
    public DsnNotify Notify { get; init; }
    /// <summary>"addr-type;address", xtext-decoded.</summary>
    public string? OriginalRecipient { get; init; }
}

