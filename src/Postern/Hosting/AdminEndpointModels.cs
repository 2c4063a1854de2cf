using System.Text.Json.Serialization;
using Postern.Spool;

namespace Postern.Hosting;

/// <summary>Where a queued message stands with the scheduler, in Postfix's terms.</summary>
public enum AdminQueueState
{
    /// <summary>Waiting for its next attempt (new, or deferred).</summary>
    Waiting,

    /// <summary>A delivery attempt is in progress.</summary>
    Active,

    /// <summary>The queue is held (<c>gateway.queue.hold</c>): nothing is delivered.</summary>
    Held,
}

/// <summary><c>GET /queue</c>: every queued message, oldest first.</summary>
public sealed record AdminQueueListing
{
    /// <summary>True when <c>gateway.queue.hold</c> is set: messages are kept, not delivered.</summary>
    public bool Held { get; init; }

    /// <summary>Number of messages listed.</summary>
    public int Count { get; init; }

    /// <summary>Sum of the message sizes, in bytes.</summary>
    public long TotalSize { get; init; }

    public required IReadOnlyList<AdminQueueEntry> Messages { get; init; }
}

/// <summary>One queued message as <c>GET /queue</c> lists it.</summary>
public record AdminQueueEntry
{
    /// <summary>The queue id.</summary>
    public required string Id { get; init; }

    /// <summary>The envelope sender; empty for the null sender &lt;&gt;.</summary>
    public required string Sender { get; init; }

    /// <summary>Size of the message as received, in bytes.</summary>
    public long Size { get; init; }

    /// <summary>When the gateway accepted the message.</summary>
    public DateTimeOffset ReceivedAt { get; init; }

    /// <summary>Seconds since <see cref="ReceivedAt"/>.</summary>
    public long AgeSeconds { get; init; }

    public AdminQueueState State { get; init; }

    /// <summary>The most delivery attempts made for any recipient.</summary>
    public int Attempts { get; init; }

    /// <summary>When the message is next looked at: the scheduler's time, else the earliest of its recipients'; absent when due now or held before any attempt.</summary>
    public DateTimeOffset? NextAttemptAt { get; init; }

    /// <summary>Every envelope recipient, in envelope order, with its delivery state.</summary>
    public required IReadOnlyList<AdminQueueRecipient> Recipients { get; init; }
}

/// <summary><c>GET /queue/{id}</c>: the listing's fields, plus the whole envelope and the message headers.</summary>
public sealed record AdminQueueEntryDetail : AdminQueueEntry
{
    /// <summary>When the first delivery attempt started.</summary>
    [JsonPropertyOrder(1)]
    public DateTimeOffset? FirstAttemptAt { get; init; }

    /// <summary>The envelope as spooled: client address, HELO, protocol, listener, connector, TLS facts, DSN parameters.</summary>
    [JsonPropertyOrder(2)]
    public required Envelope Envelope { get; init; }

    /// <summary>The header section (up to the blank line), at most the first 64 KB of the message.</summary>
    [JsonPropertyOrder(3)]
    public required string Headers { get; init; }

    /// <summary>True when no blank line was found in the first 64 KB.</summary>
    [JsonPropertyOrder(4)]
    public bool HeadersTruncated { get; init; }
}

/// <summary>Delivery state of one recipient.</summary>
public sealed record AdminQueueRecipient
{
    public required string Address { get; init; }

    public RecipientStatus Status { get; init; }

    public int Attempts { get; init; }

    public DateTimeOffset? LastAttemptAt { get; init; }

    public DateTimeOffset? NextAttemptAt { get; init; }

    /// <summary>The last reply or the gateway's own diagnostic: the reason it is not delivered yet.</summary>
    public RecordedReply? LastReply { get; init; }

    /// <summary>"host [ip]" of the last attempt.</summary>
    public string? RemoteMta { get; init; }

    /// <summary>The outbound connector of the last attempt.</summary>
    public string? Connector { get; init; }
}

/// <summary><c>POST /queue/{id}/retry</c> and <c>POST /queue/retry</c>: how many messages were made due now.</summary>
public sealed record AdminRetryResult(int Retried);

/// <summary><c>DELETE /queue/{id}</c>: how many messages were removed.</summary>
public sealed record AdminDeleteResult(int Deleted);

/// <summary>The body of every error response.</summary>
public sealed record AdminError(string Error);
