using System.Buffers;
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

/// <summary>
/// Reads CRLF-terminated command lines under a length limit. Stateful only to discard the rest of
/// an overlong line across reads without buffering it.
/// </summary>
public sealed class CommandLineReader(int maxLength)
{
    public int MaxLength { get; } = maxLength;

    /// <summary>
    /// Reads one line. On <see cref="LineStatus.NeedMore"/> the reader is left where it was, except
    /// that the bytes of an overlong line may be consumed (they are never needed).
    /// </summary>
    public LineStatus TryRead(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> line) => throw new NotImplementedException();
}

public static class SmtpCommandParser
{
    /// <summary>Splits a line (without CRLF). Fails with 500 5.5.2 for invalid UTF-8 or control characters.</summary>
    public static bool TryParse(ReadOnlySequence<byte> line, out SmtpCommand command, out SmtpReply? error) => throw new NotImplementedException();
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

public static class SmtpPathParser
{
    /// <summary>
    /// Parses the argument of MAIL ("FROM:&lt;a@b&gt; SIZE=10 BODY=8BITMIME ...").
    /// Errors: 501 5.5.4 syntax, 501 5.1.7 bad sender address, 555 5.5.4 unknown parameter or value.
    /// Non-ASCII in the address is allowed only with SMTPUTF8 (else 553 5.6.7).
    /// </summary>
    public static bool TryParseMailFrom(string argument, out MailFromCommand? command, out SmtpReply? error) => throw new NotImplementedException();

    /// <summary>
    /// Parses the argument of RCPT ("TO:&lt;a@b&gt; NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b").
    /// <paramref name="smtpUtf8"/> tells whether MAIL carried SMTPUTF8 (non-ASCII allowed).
    /// Errors: 501 5.5.4 syntax, 501 5.1.3 bad recipient address, 555 5.5.4 unknown parameter or value.
    /// </summary>
    public static bool TryParseRcptTo(string argument, bool smtpUtf8, out RcptToCommand? command, out SmtpReply? error) => throw new NotImplementedException();

    /// <summary>The domain of "local@domain" (after the last '@'), or null for e.g. "postmaster".</summary>
    public static string? DomainOf(string address) => throw new NotImplementedException();
}

/// <summary>RFC 3461 section 4 xtext.</summary>
public static class XText
{
    public static bool TryDecode(string xtext, out string decoded) => throw new NotImplementedException();
    public static string Encode(string text) => throw new NotImplementedException();
}
