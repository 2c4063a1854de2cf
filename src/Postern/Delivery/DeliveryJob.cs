using Postern.Configuration;
using Postern.Spool;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>One delivery attempt's work: some recipients of one message, all with the same route.</summary>
/// <param name="Recipients">Indexes into <see cref="Envelope.Recipients"/>.</param>
public sealed record DeliveryJob(string QueueId, Envelope Envelope, DeliveryRoute Route, IReadOnlyList<int> Recipients);

public enum RecipientOutcomeKind
{
    /// <summary>The next hop took responsibility (2xx after the data).</summary>
    Delivered,
    /// <summary>Try again later (4xx, connection or TLS policy failure, DNS temporary failure).</summary>
    Deferred,
    /// <summary>Permanent failure (5xx, null MX, non-existent domain, SMTPUTF8 impossible).</summary>
    Failed,
}

/// <summary>What happened to one recipient in one attempt.</summary>
/// <param name="Index">Index into the envelope's recipients.</param>
/// <param name="Reply">The remote reply, or a local one that says why (e.g. 4.7.5 with the certificate problem).</param>
/// <param name="RemoteMta">"host [address]" of the server that gave the reply, when one did.</param>
public sealed record RecipientOutcome(int Index, RecipientOutcomeKind Kind, RecordedReply Reply, string? RemoteMta);

/// <summary>The facts of one attempt, for logs and the message trace.</summary>
public sealed record DeliveryAttemptResult
{
    public required IReadOnlyList<RecipientOutcome> Outcomes { get; init; }
    /// <summary>"host [address]:port" of the last server talked to.</summary>
    public string? RemoteMta { get; init; }
    public TlsSessionFacts? Tls { get; init; }
    /// <summary>Every host tried and why it was left, in order (e.g. "mx1.example [192.0.2.1]: 4.7.5 certificate expired 2026-01-01").</summary>
    public IReadOnlyList<string> HostsTried { get; init; } = [];
    /// <summary>The same hosts as facts, in order: the last one gave the outcomes' reply.</summary>
    public IReadOnlyList<DeliveryHostAttempt> Attempts { get; init; } = [];
}

/// <summary>
/// One host of an attempt: where, under which TLS level, what TLS was negotiated and what the
/// server presented (also when the level then refused it), what was said, and how long it took.
/// </summary>
public sealed record DeliveryHostAttempt
{
    public required string Host { get; init; }
    public required string Address { get; init; }
    public int Port { get; init; }
    /// <summary>The level the route required.</summary>
    public TlsLevel TlsLevel { get; init; }
    /// <summary>The TLS session, with the server's certificate; null in plain text or when the handshake failed.</summary>
    public TlsSessionFacts? Tls { get; init; }
    /// <summary>"Verified", "Trusted", "Untrusted" or "Anonymous" (see DeliveryAgent.TrustWord); null without TLS.</summary>
    public string? Verification { get; init; }
    /// <summary>The server's reply that settled it, or the local refusal (e.g. "454 4.7.5 certificate names [...] do not match ...").</summary>
    public string? Reply { get; init; }
    /// <summary>Why the host was left, or the final reply when it took the message.</summary>
    public required string Detail { get; init; }
    /// <summary>True when this host settled the recipients (delivered, or refused them itself).</summary>
    public bool Settled { get; init; }
    public DateTimeOffset Started { get; init; }
    public TimeSpan Duration { get; init; }
}
