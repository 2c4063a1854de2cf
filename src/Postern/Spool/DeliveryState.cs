using Postern.Smtp;

namespace Postern.Spool;

/// <summary>Where delivery to one recipient stands.</summary>
public enum RecipientStatus
{
    /// <summary>Not attempted yet (or the state was lost: at-least-once, so it is attempted again).</summary>
    Pending,

    /// <summary>Attempted and failed temporarily; retried at <see cref="RecipientDeliveryState.NextAttemptAt"/>.</summary>
    Deferred,

    /// <summary>Accepted by the next hop. Final.</summary>
    Delivered,

    /// <summary>Failed permanently (5xx, policy, no such domain). Final.</summary>
    Failed,

    /// <summary>Still deferred when the queue lifetime ran out. Final.</summary>
    Expired,
}

/// <summary>
/// A reply or diagnostic as recorded for a recipient: the reply code, the RFC 3463 enhanced status
/// and the text exactly as given, e.g. <c>454 4.7.4</c> "TLS is required by connector 'To Contoso'
/// and mail.contoso.example did not offer STARTTLS".
/// </summary>
public sealed record RecordedReply
{
    /// <summary>The three-digit reply code (2xx, 4xx, 5xx).</summary>
    public required int Code { get; init; }

    /// <summary>The enhanced status code "class.subject.detail", when known.</summary>
    public string? EnhancedStatus { get; init; }

    /// <summary>The reply text, lines joined with a space.</summary>
    public required string Text { get; init; }

    /// <summary>
    /// True when the gateway itself produced this diagnostic (policy, DNS, connection failure)
    /// rather than a remote server's reply.
    /// </summary>
    public bool IsLocal { get; init; }

    /// <summary>A recorded copy of a remote server's reply.</summary>
    public static RecordedReply FromReply(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return new RecordedReply { Code = reply.Code, EnhancedStatus = reply.Status?.ToString(), Text = reply.Text };
    }

    /// <summary>A diagnostic produced by the gateway itself.</summary>
    public static RecordedReply Local(int code, EnhancedStatusCode status, string text) =>
        new() { Code = code, EnhancedStatus = status.ToString(), Text = text, IsLocal = true };

    /// <summary>"code status text", e.g. "550 5.1.1 User unknown".</summary>
    public override string ToString() => EnhancedStatus is null ? $"{Code} {Text}" : $"{Code} {EnhancedStatus} {Text}";
}

/// <summary>Delivery state of one envelope recipient; immutable, replaced with <c>with</c>.</summary>
public sealed record RecipientDeliveryState
{
    /// <summary>The recipient address, as in the envelope.</summary>
    public required string Address { get; init; }

    public RecipientStatus Status { get; init; }

    /// <summary>Delivery attempts made so far.</summary>
    public int Attempts { get; init; }

    public DateTimeOffset? LastAttemptAt { get; init; }

    /// <summary>When a deferred recipient is due again.</summary>
    public DateTimeOffset? NextAttemptAt { get; init; }

    /// <summary>The last reply or diagnostic (the reason a DSN gives).</summary>
    public RecordedReply? LastReply { get; init; }

    /// <summary>The server of the last attempt, "host [ip]", e.g. "mail.contoso.example [192.0.2.25]".</summary>
    public string? RemoteMta { get; init; }

    /// <summary>Name of the outbound connector used for the last attempt, if any.</summary>
    public string? Connector { get; init; }

    /// <summary>A "delayed" DSN was sent (or was not wanted); it is sent once per recipient.</summary>
    public bool DelayNotified { get; init; }

    /// <summary>True for Delivered, Failed and Expired: nothing more is attempted.</summary>
    public bool IsFinal => Status is RecipientStatus.Delivered or RecipientStatus.Failed or RecipientStatus.Expired;
}

/// <summary>
/// Per-recipient delivery state of one queued message, persisted next to its spool entry by
/// <see cref="DeliveryStateStore"/>. Recipients are in envelope order.
/// </summary>
public sealed record DeliveryState
{
    /// <summary>The spool entry this state belongs to.</summary>
    public required string QueueId { get; init; }

    /// <summary>When the first delivery attempt started; null before any.</summary>
    public DateTimeOffset? FirstAttemptAt { get; init; }

    /// <summary>When the state was last saved.</summary>
    public DateTimeOffset? UpdatedAt { get; init; }

    /// <summary>One entry per envelope recipient, in envelope order.</summary>
    public required IReadOnlyList<RecipientDeliveryState> Recipients { get; init; }

    /// <summary>
    /// True when this state was read from the state store (an earlier attempt saved it); false for
    /// a fresh Pending state. Not stored: it tells the scheduler whether there is a state to remove.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Stored { get; init; }

    /// <summary>True when every recipient is final: the entry can be removed.</summary>
    public bool IsComplete => Recipients.All(r => r.IsFinal);

    /// <summary>The fresh state of an entry never attempted: every recipient Pending.</summary>
    public static DeliveryState CreatePending(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return new DeliveryState
        {
            QueueId = envelope.QueueId,
            Recipients = envelope.Recipients.Select(r => new RecipientDeliveryState { Address = r.Address }).ToArray(),
        };
    }

    /// <summary>A copy with recipient <paramref name="index"/> replaced.</summary>
    public DeliveryState WithRecipient(int index, RecipientDeliveryState recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Recipients.Count);
        var copy = Recipients.ToArray();
        copy[index] = recipient;
        return this with { Recipients = copy };
    }

    /// <summary>True when this state describes <paramref name="envelope"/>: same id, same recipients in the same order.</summary>
    public bool Matches(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (QueueId != envelope.QueueId || Recipients.Count != envelope.Recipients.Count)
        {
            return false;
        }
        for (int i = 0; i < Recipients.Count; i++)
        {
            if (!string.Equals(Recipients[i].Address, envelope.Recipients[i].Address, StringComparison.Ordinal))
            {
                return false;
            }
        }
        return true;
    }
}
