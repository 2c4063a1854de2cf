namespace Postern.Delivery;

/// <summary>
/// Limits on what an SMTP server can make the client wait for or hold in memory. Defaults follow
/// the Postfix SMTP client where it has a setting.
/// </summary>
public sealed record SmtpClientLimits
{
    /// <summary>Longest reply line accepted, without CRLF; as Postfix <c>line_length_limit</c> (2048).</summary>
    public int MaxReplyLineLength { get; init; } = 2048;

    /// <summary>Most lines in one reply; an EHLO reply with more is refused (a server offers a dozen or so).</summary>
    public int MaxReplyLines { get; init; } = 128;

    /// <summary>As Postfix <c>smtp_connect_timeout</c> (30 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Waiting for the banner and the EHLO/HELO reply; as Postfix <c>smtp_helo_timeout</c> (300 s).</summary>
    public TimeSpan HeloTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Waiting for the STARTTLS reply and the TLS handshake; as Postfix <c>smtp_starttls_timeout</c> (300 s).</summary>
    public TimeSpan StartTlsTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Waiting for the reply to other commands; as Postfix <c>smtp_rcpt_timeout</c> (300 s).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Waiting for the QUIT reply; as Postfix <c>smtp_quit_timeout</c> (300 s).</summary>
    public TimeSpan QuitTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Every step bounded by the same <paramref name="timeout"/>, as a probe wants.</summary>
    public static SmtpClientLimits WithTimeout(TimeSpan timeout) => new()
    {
        ConnectTimeout = timeout,
        HeloTimeout = timeout,
        StartTlsTimeout = timeout,
        CommandTimeout = timeout,
        QuitTimeout = timeout,
    };
}

/// <summary>The step of a client conversation, for messages that say where it went wrong.</summary>
public enum SmtpClientStage
{
    /// <summary>Opening the TCP connection.</summary>
    Connect,

    /// <summary>Waiting for the 220 greeting.</summary>
    Banner,

    /// <summary>EHLO or HELO.</summary>
    Hello,

    /// <summary>The STARTTLS command.</summary>
    StartTls,

    /// <summary>The TLS handshake (after STARTTLS or at once with implicit TLS).</summary>
    TlsHandshake,

    /// <summary>Any other command.</summary>
    Command,

    /// <summary>QUIT.</summary>
    Quit,
}

/// <summary>
/// The connection to the server failed or the server broke the protocol: unreachable, timed out,
/// closed, sent something that is not a reply, or a TLS handshake failed. Replies the server sends
/// (even refusals) are not exceptions.
/// </summary>
public sealed class SmtpClientException : Exception
{
    /// <summary>Creates the exception for a step.</summary>
    public SmtpClientException(SmtpClientStage stage, string message, Exception? inner = null)
        : base(message, inner)
    {
        Stage = stage;
    }

    /// <summary>Where the conversation was.</summary>
    public SmtpClientStage Stage { get; }

    /// <summary>Whether the step ran out of time.</summary>
    public bool IsTimeout { get; init; }

    /// <summary>
    /// Whether the local TLS library refused the handshake before sending anything (e.g. a protocol
    /// version the system configuration forbids): a fact about this machine, not the server.
    /// </summary>
    public bool IsLocalRefusal { get; init; }
}
