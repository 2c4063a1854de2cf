namespace Postern.Tracing;

/// <summary>
/// One message's row of <c>messages</c>, folded from its events in the order they were recorded.
/// Each recipient stands where its last queued/deferred/delivered/bounced/expired event put it;
/// the status follows the rules of <see cref="TraceSchema.Statuses"/>.
/// </summary>
internal sealed class MessageSummary
{
    private readonly Dictionary<string, string> _standing = new(StringComparer.OrdinalIgnoreCase);
    private bool _received;
    private bool _deleted;
    private bool _rejected;

    public long? FirstTime { get; private set; }
    public long? LastTime { get; private set; }
    public string? MessageId { get; private set; }
    public string? Sender { get; private set; }
    public string? Connector { get; private set; }
    public string? ClientAddress { get; private set; }
    public long? Size { get; private set; }
    /// <summary>In envelope order (the order they were queued).</summary>
    public List<string> Recipients { get; } = [];

    public void Add(TraceEvent e) => Add(e.Time.ToUnixTimeMilliseconds(), TraceSchema.KindName(e.Kind), e.MessageId, e.Sender, e.Recipient,
        e.Connector, e.ClientAddress, e.Size);

    public void Add(long time, string kind, string? messageId, string? sender, string? recipient, string? connector, string? clientAddress, long? size)
    {
        FirstTime = FirstTime is { } first ? Math.Min(first, time) : time;
        LastTime = LastTime is { } last ? Math.Max(last, time) : time;
        MessageId ??= messageId;
        Sender ??= sender;
        switch (kind)
        {
            case "received":
                _received = true;
                // The inbound connector and the client are the message's; later events name outbound connectors.
                Connector = connector ?? Connector;
                ClientAddress = clientAddress ?? ClientAddress;
                Size = size ?? Size;
                break;
            case "rejected":
                _rejected = true;
                break;
            case "deleted":
                _deleted = true;
                break;
            case "queued" or "deferred" or "delivered" or "bounced" or "expired" when recipient is not null:
                if (!_standing.ContainsKey(recipient)) Recipients.Add(recipient);
                _standing[recipient] = kind;
                break;
        }
        if (!_received) Connector ??= connector;
        if (!_received) ClientAddress ??= clientAddress;
    }

    public int Waiting => Count("queued") + Count("deferred");
    public int Delivered => Count("delivered");
    public int Failed => Count("bounced") + Count("expired");

    public string Status =>
        _deleted ? "deleted"
        : _standing.Count == 0 ? (_rejected ? "rejected" : "received")
        : Count("deferred") > 0 ? "deferred"
        : Count("queued") > 0 ? "queued"
        : Count("bounced") > 0 ? "bounced"
        : Count("expired") > 0 ? "expired"
        : "delivered";

    private int Count(string standing) => _standing.Values.Count(s => s == standing);
}
