using Postern.Smtp;

namespace Postern.Receiving;

/// <summary>The server's standard replies (PRODUCT.md's table and RFC 5321 4.2).</summary>
public static class Replies
{
    public static readonly SmtpReply Ok = new(250, "2.0.0", "Ok");
    public static readonly SmtpReply SenderOk = new(250, "2.1.0", "Ok");
    public static readonly SmtpReply RecipientOk = new(250, "2.1.5", "Ok");
    public static readonly SmtpReply StartMailInput = new(354, "End data with <CR><LF>.<CR><LF>");
    public static readonly SmtpReply ReadyToStartTls = new(220, "2.0.0", "Ready to start TLS");
    public static readonly SmtpReply Bye = new(221, "2.0.0", "Bye");
    public static readonly SmtpReply CannotVerify = new(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
    public static readonly SmtpReply MustIssueStartTls = new(530, "5.7.0", "Must issue a STARTTLS command first");
    public static readonly SmtpReply RelayDenied = new(550, "5.7.1", "Relay access denied");
    public static readonly SmtpReply BareLineEndingInData = new(550, "5.6.0", "Message contains bare CR or LF; line endings must be CRLF (RFC 5321 2.3.8)");
    public static readonly SmtpReply BareLineEndingInCommand = new(500, "5.5.2", "Syntax error: bare CR or LF in command; line endings must be CRLF");
    public static readonly SmtpReply LineTooLong = new(500, "5.5.2", "Syntax error: line too long");
    public static readonly SmtpReply UnknownCommand = new(502, "5.5.2", "Command not recognized");
    public static readonly SmtpReply NotImplemented = new(502, "5.5.1", "Command not implemented");
    public static readonly SmtpReply SendHeloFirst = new(503, "5.5.1", "Error: send HELO/EHLO first");
    public static readonly SmtpReply NestedMail = new(503, "5.5.1", "Error: nested MAIL command");
    public static readonly SmtpReply NeedMail = new(503, "5.5.1", "Error: need MAIL command");
    public static readonly SmtpReply NeedRcpt = new(503, "5.5.1", "Error: need RCPT command");
    public static readonly SmtpReply NoValidRecipients = new(554, "5.5.1", "Error: no valid recipients");
    public static readonly SmtpReply DataAfterBdat = new(503, "5.5.1", "Error: DATA not allowed after BDAT; finish with BDAT LAST or RSET");
    public static readonly SmtpReply BdatSyntax = new(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
    public static readonly SmtpReply TlsAlreadyActive = new(503, "5.5.1", "Error: TLS already active");
    public static readonly SmtpReply TlsNotAvailable = new(502, "5.5.1", "Error: STARTTLS not available on this listener");
    public static readonly SmtpReply NoParametersAllowed = new(501, "5.5.4", "Syntax: no parameters allowed");
    public static readonly SmtpReply HeloSyntax = new(501, "5.5.4", "Syntax: EHLO hostname");
    public static readonly SmtpReply TooManyRecipients = new(452, "4.5.3", "Error: too many recipients");
    public static readonly SmtpReply MessageTooBig = new(552, "5.3.4", "Message size exceeds fixed maximum message size");
    public static readonly SmtpReply StorageFailure = new(452, "4.3.1", "Insufficient system storage; message not accepted, try again later");
    public static readonly SmtpReply TooManyErrors = new(421, "4.7.0", "Too many errors; closing connection");
    public static readonly SmtpReply Timeout = new(421, "4.4.2", "Timeout exceeded; closing connection");
    public static readonly SmtpReply ShuttingDown = new(421, "4.3.2", "Service shutting down; closing connection");
    public static readonly SmtpReply TooManyConnections = new(421, "4.7.0", "Too many connections; try again later");
    public static readonly SmtpReply TooManyConnectionsFromClient = new(421, "4.7.0", "Too many connections from your address; try again later");
    public static readonly SmtpReply PregreetTalker = new(554, "5.5.0", "Protocol error: client sent data before the greeting");
    public static readonly SmtpReply TooManyMessages = new(421, "4.7.0", "Too many messages in one session; closing connection");
    public static readonly SmtpReply HelpText = new(214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS");

    public static SmtpReply Queued(string queueId) => new(250, "2.0.0", $"Ok: queued as {queueId}");

    public static SmtpReply ChunkReceived(long size) => new(250, "2.0.0", $"{size} octets received");

    public static SmtpReply DeclaredSizeTooBig(long max) => new(552, "5.3.4", $"Message size exceeds fixed maximum message size of {max} octets");
}
