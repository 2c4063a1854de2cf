using System.Globalization;

namespace Postern.Tracing;

/// <summary>
/// What <c>postern trace</c> looks for. Every filter given must hold. Addresses compare
/// case-insensitively; <c>*@domain</c> or <c>@domain</c> matches every address at that domain.
/// A message is in the window [since, until) when its latest event is; the most recent comes first.
/// </summary>
public sealed record TraceFilter
{
    /// <summary>The default and the largest <see cref="Limit"/>.</summary>
    public const int DefaultLimit = 100;
    public const int MaxLimit = 10_000;

    /// <summary>The Message-ID header, with or without angle brackets (compared exactly).</summary>
    public string? MessageId { get; init; }
    public string? Sender { get; init; }
    public string? Recipient { get; init; }
    public DateTimeOffset? Since { get; init; }
    public DateTimeOffset? Until { get; init; }
    /// <summary>One of <see cref="TraceSchema.Statuses"/>.</summary>
    public string? Status { get; init; }
    /// <summary>The inbound connector that admitted the message, or an outbound connector that tried or delivered it.</summary>
    public string? Connector { get; init; }
    /// <summary>At most this many messages, newest first.</summary>
    public int Limit { get; init; } = DefaultLimit;
    /// <summary>Also every event of each message, in time order.</summary>
    public bool Details { get; init; }

    /// <summary>Every problem with the filter, in the words of the CLI's options; empty when it can be run.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Status is not null && !TraceSchema.Statuses.Contains(Status))
            problems.Add($"unknown status \"{Status}\": expected one of {string.Join(", ", TraceSchema.Statuses)}");
        if (Limit is < 1 or > MaxLimit)
            problems.Add($"limit {Limit.ToString(CultureInfo.InvariantCulture)} is out of range: expected 1 to {MaxLimit.ToString(CultureInfo.InvariantCulture)}");
        if (Since is { } since && Until is { } until && until <= since)
            problems.Add($"until ({TraceTimes.Format(until)}) is not after since ({TraceTimes.Format(since)})");
        foreach ((string name, string? value) in new[] { ("sender", Sender), ("recipient", Recipient) })
        {
            if (value is not null && AddressPattern.Parse(value) is null)
                problems.Add($"{name} \"{value}\": expected an address, or *@domain for every address at a domain");
        }
        return problems;
    }
}

/// <summary>An address filter: one address exactly, or every address at a domain (<c>*@domain</c>, <c>@domain</c>).</summary>
internal sealed record AddressPattern(string Value, bool IsDomain)
{
    public static AddressPattern? Parse(string text)
    {
        string value = text.Trim();
        if (value.StartsWith('<') && value.EndsWith('>')) value = value[1..^1];
        if (value.StartsWith("*@", StringComparison.Ordinal)) value = value[1..];
        if (value.StartsWith('@'))
        {
            string domain = value[1..];
            return domain.Length == 0 || domain.Contains('@') ? null : new AddressPattern(domain, true);
        }
        // The null sender is searched as "" or "<>".
        return new AddressPattern(value, false);
    }

    /// <summary>A LIKE pattern (escape character '\') for addresses that end with "@domain" and, when <paramref name="suffix"/> is given, are followed by it.</summary>
    public string Like(string suffix = "") => "%@" + EscapeLike(Value) + suffix;

    internal static string EscapeLike(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal)
        .Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
}

/// <summary>Times as the trace commands take them: ISO 8601, or relative to now (<c>7d</c>, <c>12h</c>, <c>30m</c>, <c>45s</c>, <c>2w</c>).</summary>
public static class TraceTimes
{
    /// <summary>
    /// Parses "2026-11-29", "2026-11-29T05:00:00Z", "2026-11-29 05:00" (UTC unless an offset is
    /// given) or a span back from <paramref name="now"/> ("7d", "12h", "30m", "90s", "2w").
    /// </summary>
    public static bool TryParse(string text, DateTimeOffset now, out DateTimeOffset time)
    {
        time = default;
        string value = text.Trim();
        if (value.Length >= 2 && char.IsAsciiLetter(value[^1])
            && long.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long amount))
        {
            TimeSpan? unit = char.ToLowerInvariant(value[^1]) switch
            {
                's' => TimeSpan.FromSeconds(1),
                'm' => TimeSpan.FromMinutes(1),
                'h' => TimeSpan.FromHours(1),
                'd' => TimeSpan.FromDays(1),
                'w' => TimeSpan.FromDays(7),
                _ => null,
            };
            if (unit is not { } step || amount > 100 * 366 * 24 * 3600L / (long)step.TotalSeconds) return false;
            time = now - step * amount;
            return true;
        }
        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out time);
    }

    /// <summary>The error text for a time that does not parse.</summary>
    public static string Problem(string name, string text) =>
        $"{name} \"{text}\" is not a time: expected ISO 8601 (2026-11-29, 2026-11-29T05:00:00Z) or a span back from now (7d, 12h, 30m)";

    /// <summary>"2026-11-29 05:00:00 UTC".</summary>
    public static string Format(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    internal static long ToUnixMs(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    internal static DateTimeOffset FromUnixMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
