using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace Postern.Tracing;

/// <summary>
/// Outbound transport security over a time window, per destination domain and outbound connector
/// (as Exchange Online's "outbound messages in transit security" report). Each recipient counts
/// once, by its last outcome in the window.
/// </summary>
public sealed partial record TlsReport
{
    public required DateTimeOffset Since { get; init; }
    public required DateTimeOffset Until { get; init; }
    /// <summary>One row per recipient domain and connector, the busiest first.</summary>
    public required IReadOnlyList<TlsReportRow> Rows { get; init; }
    /// <summary>The sums over every row (its domain and connector are absent).</summary>
    public required TlsReportRow Total { get; init; }
    /// <summary>The most frequent reasons recipients were not delivered, over every row.</summary>
    public required IReadOnlyList<TlsReportReason> Reasons { get; init; }

    /// <summary>
    /// Reads outcome events (<c>delivered</c>, <c>deferred</c>, <c>bounced</c>, <c>expired</c>) in
    /// time order from <paramref name="command"/> (queue_id, recipient, connector, kind,
    /// tls_protocol, verification, reply) and counts each recipient by its last one.
    /// </summary>
    internal static TlsReport Build(SqliteCommand command, DateTimeOffset since, DateTimeOffset until, int reasonsPerRow, int reasons)
    {
        var outcomes = new Dictionary<(string QueueId, string Recipient), Outcome>();
        var strings = new Dictionary<string, string>(StringComparer.Ordinal);
        using (SqliteDataReader reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                string queueId = reader.IsDBNull(0) ? "" : reader.GetString(0);
                string? recipient = TraceQuery.Text(reader, 1);
                if (recipient is null) continue;
                var key = (queueId, recipient.ToLowerInvariant());
                if (!outcomes.TryGetValue(key, out Outcome? outcome))
                {
                    outcome = new Outcome { Domain = Intern(strings, DomainOf(recipient)) };
                    outcomes.Add(key, outcome);
                }
                if (TraceQuery.Text(reader, 2) is { } connector) outcome.Connector = Intern(strings, connector);
                outcome.Kind = reader.GetString(3);
                if (outcome.Kind == "delivered")
                {
                    outcome.TlsProtocol = TraceQuery.Text(reader, 4);
                    outcome.Verification = TraceQuery.Text(reader, 5);
                    outcome.Reply = null;
                }
                else
                {
                    outcome.Reply = TraceQuery.Text(reader, 6);
                    if (outcome.Kind == "deferred") outcome.LastDeferral = outcome.Reply;
                }
            }
        }

        var rows = new Dictionary<(string Domain, string? Connector), RowCounter>();
        var total = new RowCounter("", null);
        foreach (Outcome outcome in outcomes.Values)
        {
            var key = (outcome.Domain, outcome.Connector);
            if (!rows.TryGetValue(key, out RowCounter? row)) rows.Add(key, row = new RowCounter(outcome.Domain, outcome.Connector));
            Category category = outcome.Categorize(out string? reason);
            row.Add(category, reason);
            total.Add(category, reason);
        }
        return new TlsReport
        {
            Since = since,
            Until = until,
            Rows = rows.Values.Select(r => r.ToRow(reasonsPerRow)).OrderByDescending(r => r.Recipients)
                .ThenBy(r => r.Domain, StringComparer.Ordinal).ThenBy(r => r.Connector, StringComparer.Ordinal).ToArray(),
            Total = total.ToRow(0) with { Domain = null },
            Reasons = total.TopReasons(reasons),
        };
    }

    private static string Intern(Dictionary<string, string> strings, string value)
    {
        if (strings.TryGetValue(value, out string? known)) return known;
        strings.Add(value, value);
        return value;
    }

    /// <summary>The part after the last '@', lower case, without a trailing dot.</summary>
    internal static string DomainOf(string address)
    {
        int at = address.LastIndexOf('@');
        string domain = at >= 0 ? address[(at + 1)..] : address;
        return domain.TrimEnd('.').ToLowerInvariant();
    }

    /// <summary>True for a refusal by the gateway's own TLS policy: 4.7.4 (no TLS) or 4.7.5 (certificate refused).</summary>
    internal static bool IsPolicyRefusal(string? reply)
    {
        if (reply is null || reply.Length < 9) return false;
        ReadOnlySpan<char> status = reply.AsSpan(4);
        return status.StartsWith("4.7.4 ") || status.StartsWith("4.7.5 ") || status.SequenceEqual("4.7.4") || status.SequenceEqual("4.7.5");
    }

    /// <summary>
    /// A reply as a reason shared by many recipients: without the host that gave it
    /// ("mx1.example[192.0.2.1]:25: ") and without the connector it was refused under (the row says that).
    /// </summary>
    internal static string ReasonOf(string? reply)
    {
        if (string.IsNullOrWhiteSpace(reply)) return "no reply recorded";
        Match match = ReplyShape().Match(reply.Trim());
        if (!match.Success) return reply.Trim();
        string text = ConnectorSuffix().Replace(match.Groups["text"].Value, "");
        return $"{match.Groups["code"].Value} {text}".TrimEnd();
    }

    [GeneratedRegex(@"^(?<code>\d{3}(?: [245]\.\d{1,3}\.\d{1,3})?)(?: (?:\S+\[[^\]]*\](?::\d+)?: )?(?<text>.*))?$", RegexOptions.Singleline)]
    private static partial Regex ReplyShape();

    [GeneratedRegex(@" \((?:connector "".*""|defaultOutbound) \(\w+\)\)$")]
    private static partial Regex ConnectorSuffix();

    internal enum Category { Verified, Unverified, NoTls, Held, Failed }

    private sealed class Outcome
    {
        public required string Domain { get; init; }
        public string? Connector { get; set; }
        public string Kind { get; set; } = "";
        public string? TlsProtocol { get; set; }
        public string? Verification { get; set; }
        public string? Reply { get; set; }
        public string? LastDeferral { get; set; }

        public Category Categorize(out string? reason)
        {
            reason = null;
            if (Kind == "delivered")
            {
                if (TlsProtocol is null) return Category.NoTls;
                return Verification is "Verified" or "Trusted" ? Category.Verified : Category.Unverified;
            }
            // An expiry is reported with its own words; what held the recipient back is the last deferral.
            string? reply = Kind == "expired" && !IsPolicyRefusal(Reply) && IsPolicyRefusal(LastDeferral) ? LastDeferral : Reply;
            reason = ReasonOf(reply);
            return IsPolicyRefusal(reply) ? Category.Held : Category.Failed;
        }
    }

    private sealed class RowCounter(string domain, string? connector)
    {
        private readonly int[] _counts = new int[5];
        private readonly Dictionary<string, (int Count, bool Held)> _reasons = new(StringComparer.Ordinal);

        public void Add(Category category, string? reason)
        {
            _counts[(int)category]++;
            if (reason is null) return;
            _reasons[reason] = _reasons.TryGetValue(reason, out var seen) ? (seen.Count + 1, seen.Held) : (1, category == Category.Held);
        }

        public IReadOnlyList<TlsReportReason> TopReasons(int count) => _reasons
            .OrderByDescending(r => r.Value.Count).ThenBy(r => r.Key, StringComparer.Ordinal).Take(count)
            .Select(r => new TlsReportReason { Reason = r.Key, Count = r.Value.Count, Policy = r.Value.Held }).ToArray();

        public TlsReportRow ToRow(int reasons) => new()
        {
            Domain = domain,
            Connector = connector,
            Verified = _counts[(int)Category.Verified],
            Unverified = _counts[(int)Category.Unverified],
            NoTls = _counts[(int)Category.NoTls],
            Held = _counts[(int)Category.Held],
            Failed = _counts[(int)Category.Failed],
            Reasons = TopReasons(reasons),
        };
    }
}

/// <summary>One destination domain through one outbound connector. Every count is of recipients.</summary>
public sealed record TlsReportRow
{
    /// <summary>The recipients' domain (lower case); absent in the total.</summary>
    public string? Domain { get; init; }
    /// <summary>The outbound connector; absent when the default route (MX, no connector) was used.</summary>
    public string? Connector { get; init; }
    /// <summary>Delivered over TLS with a certificate that was verified (Verified, Trusted).</summary>
    public int Verified { get; init; }
    /// <summary>Delivered over TLS without a verified certificate (Untrusted, Anonymous).</summary>
    public int Unverified { get; init; }
    /// <summary>Delivered in plain text.</summary>
    public int NoTls { get; init; }
    /// <summary>Not delivered because the TLS policy refused the connection (4.7.4, 4.7.5): deferred, bounced or expired.</summary>
    public int Held { get; init; }
    /// <summary>Not delivered for another reason: deferred, bounced or expired.</summary>
    public int Failed { get; init; }
    /// <summary>Every recipient counted.</summary>
    public int Recipients => Verified + Unverified + NoTls + Held + Failed;
    /// <summary>The most frequent reasons in this row.</summary>
    public IReadOnlyList<TlsReportReason> Reasons { get; init; } = [];
}

/// <summary>A reason recipients were not delivered, and for how many.</summary>
public sealed record TlsReportReason
{
    /// <summary>The reply without the host that gave it, e.g. "454 4.7.5 certificate expired 2026-01-01".</summary>
    public required string Reason { get; init; }
    public required int Count { get; init; }
    /// <summary>True when it is a refusal by the TLS policy (counted as held).</summary>
    public bool Policy { get; init; }
}
