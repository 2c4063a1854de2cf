namespace Postern.Tracing;

/// <summary>What happened to a message, in the words of <c>postern trace --status</c>.</summary>
public enum TraceEventKind
{
    /// <summary>Accepted from a client and committed to the spool (one event per message).</summary>
    Received,
    /// <summary>Refused at the door: a MAIL, RCPT or end-of-data reply in the 4xx/5xx range (no queue id unless the data was already spooled).</summary>
    Rejected,
    /// <summary>A recipient of a received message entered the queue (one event per recipient).</summary>
    Queued,
    /// <summary>One delivery attempt to one remote host (one event per host tried), with that connection's TLS facts.</summary>
    Attempt,
    /// <summary>A recipient will be tried again later (one per recipient per attempt).</summary>
    Deferred,
    /// <summary>The next hop accepted responsibility for a recipient.</summary>
    Delivered,
    /// <summary>A recipient failed permanently and a bounce was sent when asked for.</summary>
    Bounced,
    /// <summary>A recipient was still undelivered at the end of the queue lifetime.</summary>
    Expired,
    /// <summary>An administrator deleted the message from the queue.</summary>
    Deleted,
}

/// <summary>
/// One event of a message's life, as stored in the trace store and counted by the metrics. Fields
/// that do not apply to an event are null. Addresses are as the client spelled them.
/// </summary>
public sealed record TraceEvent
{
    public required DateTimeOffset Time { get; init; }
    public required TraceEventKind Kind { get; init; }
    /// <summary>The spool's queue id; null for a rejection before any data was spooled.</summary>
    public string? QueueId { get; init; }
    /// <summary>The Message-ID header without angle brackets, when the message had one.</summary>
    public string? MessageId { get; init; }
    /// <summary>The envelope sender; empty for the null sender.</summary>
    public string? Sender { get; init; }
    /// <summary>The recipient this event is about (queued, deferred, delivered, bounced, expired, a rejected RCPT).</summary>
    public string? Recipient { get; init; }
    /// <summary>Inbound connector that admitted the message, or the outbound connector of an attempt or outcome.</summary>
    public string? Connector { get; init; }

    /// <summary>Received / rejected: the client's address and reverse name (or HELO name).</summary>
    public string? ClientAddress { get; init; }
    public string? ClientName { get; init; }

    /// <summary>
    /// Attempt and outcomes: the remote host name and address that was talked to. Outcome events
    /// (deferred, delivered, bounced) also carry the TLS fields of the connection that gave the reply.
    /// </summary>
    public string? RemoteHost { get; init; }
    public string? RemoteAddress { get; init; }
    /// <summary>Attempt: the TLS level the route required ("None" … "DomainValidation").</summary>
    public string? TlsLevel { get; init; }

    /// <summary>"TLSv1.3"; null when the connection was in plain text.</summary>
    public string? TlsProtocol { get; init; }
    public string? TlsCipher { get; init; }
    /// <summary>The peer's certificate: subject, DNS names, SHA-256 (upper-case hex).</summary>
    public string? CertificateSubject { get; init; }
    public IReadOnlyList<string>? CertificateNames { get; init; }
    public string? CertificateSha256 { get; init; }
    /// <summary>"Verified", "Trusted", "Untrusted", "Anonymous" (Postfix's words), or null without TLS.</summary>
    public string? Verification { get; init; }

    /// <summary>The SMTP reply given or received, e.g. "250 2.0.0 Ok: queued as 4Xz" or "454 4.7.5 certificate expired 2026-01-01".</summary>
    public string? Reply { get; init; }
    /// <summary>
    /// Attempt: how long that host took, from connect to the reply or the refusal. Delivered,
    /// deferred, bounced, expired: the time since the message was received (Postfix's delay=).
    /// </summary>
    public long? DurationMs { get; init; }
    /// <summary>Received: the message size in bytes.</summary>
    public long? Size { get; init; }
    /// <summary>Free text: why an attempt was left, a rejection's reason, the admin who deleted.</summary>
    public string? Detail { get; init; }
}

/// <summary>
/// Where events go. <see cref="Record"/> is called on the hot paths of receiving and delivering; it
/// must not block or throw (a writer queues the event and batches it off the path).
/// </summary>
public interface ITraceSink
{
    void Record(TraceEvent traceEvent);
}

/// <summary>A sink that drops everything (tests and tools that need no trace).</summary>
public sealed class NullTraceSink : ITraceSink
{
    public static readonly NullTraceSink Instance = new();

    public void Record(TraceEvent traceEvent)
    {
    }
}

/// <summary>Fans each event out to several sinks (the trace store and the metrics).</summary>
public sealed class TraceSinks(IReadOnlyList<ITraceSink> sinks) : ITraceSink
{
    public void Record(TraceEvent traceEvent)
    {
        foreach (ITraceSink sink in sinks) sink.Record(traceEvent);
    }
}
