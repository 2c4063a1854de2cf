using System.Globalization;
using Postern.Smtp;

namespace Postern.Delivery;

/// <summary>What a server offered in its EHLO reply (RFC 5321 4.1.1.1): keywords and their parameters.</summary>
public sealed class SmtpCapabilities
{
    private readonly Dictionary<string, string> _keywords;

    private SmtpCapabilities(string greeting, Dictionary<string, string> keywords, IReadOnlyList<string> lines)
    {
        Greeting = greeting;
        _keywords = keywords;
        Lines = lines;
    }

    /// <summary>No extensions: what a server that answered HELO offers.</summary>
    public static SmtpCapabilities None { get; } = new("", new Dictionary<string, string>(StringComparer.Ordinal), []);

    /// <summary>The first line of the EHLO reply (the server's name and greeting).</summary>
    public string Greeting { get; }

    /// <summary>Keyword lines as sent, after the greeting.</summary>
    public IReadOnlyList<string> Lines { get; }

    /// <summary>Upper-case keywords in the order offered.</summary>
    public IReadOnlyList<string> Keywords => [.. _keywords.Keys];

    /// <summary>RFC 2920.</summary>
    public bool Pipelining => Has("PIPELINING");

    /// <summary>RFC 3207.</summary>
    public bool StartTls => Has("STARTTLS");

    /// <summary>RFC 6152.</summary>
    public bool EightBitMime => Has("8BITMIME");

    /// <summary>RFC 6531.</summary>
    public bool SmtpUtf8 => Has("SMTPUTF8");

    /// <summary>RFC 3030.</summary>
    public bool Chunking => Has("CHUNKING");

    /// <summary>RFC 3461.</summary>
    public bool Dsn => Has("DSN");

    /// <summary>RFC 2034.</summary>
    public bool EnhancedStatusCodes => Has("ENHANCEDSTATUSCODES");

    /// <summary>RFC 1870: SIZE offered.</summary>
    public bool Size => Has("SIZE");

    /// <summary>RFC 1870: the declared maximum message size; null when not declared or 0 (no fixed limit).</summary>
    public long? MaximumMessageSize =>
        _keywords.TryGetValue("SIZE", out var value) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var size) && size > 0
            ? size
            : null;

    /// <summary>AUTH mechanisms (RFC 4954), upper-case.</summary>
    public IReadOnlyList<string> AuthMechanisms =>
        _keywords.TryGetValue("AUTH", out var value)
            ? value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(m => m.ToUpperInvariant()).ToArray()
            : [];

    /// <summary>Whether <paramref name="keyword"/> was offered (case-insensitive).</summary>
    public bool Has(string keyword) => _keywords.ContainsKey(keyword.ToUpperInvariant());

    /// <summary>The parameters after a keyword ("" when none), or null when not offered.</summary>
    public string? Parameters(string keyword) => _keywords.TryGetValue(keyword.ToUpperInvariant(), out var value) ? value : null;

    /// <summary>Reads a positive EHLO reply: the first line greets, each further line is "KEYWORD [params]".</summary>
    public static SmtpCapabilities Parse(SmtpReply ehlo)
    {
        ArgumentNullException.ThrowIfNull(ehlo);
        var keywords = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = new List<string>();
        for (var i = 1; i < ehlo.Lines.Count; i++)
        {
            var line = ehlo.Lines[i].Trim();
            if (line.Length == 0)
            {
                continue;
            }

            lines.Add(line);
            var space = line.IndexOfAny([' ', '=']);
            var keyword = (space < 0 ? line : line[..space]).ToUpperInvariant();
            var parameters = space < 0 ? "" : line[(space + 1)..].Trim();
            keywords.TryAdd(keyword, parameters);
        }

        return new SmtpCapabilities(ehlo.Lines[0], keywords, lines);
    }
}
