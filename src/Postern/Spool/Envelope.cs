using Postern.Tls;

namespace Postern.Spool;

/// <summary>RFC 3461 NOTIFY, as flags; <see cref="None"/> means the parameter was absent.</summary>
[Flags]
public enum DsnNotify { None = 0, Never = 1, Success = 2, Failure = 4, Delay = 8 }

/// <summary>RFC 3461 RET.</summary>
public enum DsnReturn { Unspecified, Full, Headers }

/// <summary>RFC 1652 / RFC 3030 BODY.</summary>
public enum BodyType { Unspecified, SevenBit, EightBitMime, BinaryMime }

/// <summary>One RCPT TO, with its RFC 3461 parameters.</summary>
public sealed record EnvelopeRecipient
{
    public required string Address { get; init; }
    public DsnNotify Notify { get; init; }
    /// <summary>ORCPT as given: "addr-type;xtext-decoded-address", e.g. "rfc822;user@example.com".</summary>
    public string? OriginalRecipient { get; init; }
}

/// <summary>Everything known about a message besides its bytes; stored with it in the spool.</summary>
public sealed record Envelope
{
    public required string QueueId { get; init; }
    /// <summary>The reverse-path without angle brackets; empty for the null sender &lt;&gt;.</summary>
    public required string Sender { get; init; }
    public required IReadOnlyList<EnvelopeRecipient> Recipients { get; init; }
    public BodyType Body { get; init; }
    public bool SmtpUtf8 { get; init; }
    public DsnReturn Return { get; init; }
    /// <summary>RFC 3461 ENVID, xtext-decoded.</summary>
    public string? EnvelopeId { get; init; }
    /// <summary>SIZE declared at MAIL, if any.</summary>
    public long? DeclaredSize { get; init; }
    public required string ClientAddress { get; init; }
    public int ClientPort { get; init; }
    /// <summary>Reverse DNS of the client, when looked up.</summary>
    public string? ClientName { get; init; }
    public required string HeloName { get; init; }
    /// <summary>"ESMTP", "ESMTPS", "UTF8SMTPS", ... as in the Received header (RFC 3848).</summary>
    public required string Protocol { get; init; }
    /// <summary>The listener that took the message, "address:port".</summary>
    public required string Listener { get; init; }
    /// <summary>Name of the inbound connector that admitted the message, if any.</summary>
    public string? Connector { get; init; }
    /// <summary>Organization the connector belongs to, if any.</summary>
    public string? Organization { get; init; }
    public TlsSessionFacts? Tls { get; init; }
    public required DateTimeOffset ReceivedAt { get; init; }
}
