using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Postern.Configuration;

/// <summary>
/// The syntax of the strings in the configuration contract: listener endpoints, "host[:port]"
/// values, IP addresses and ranges, domain names and domain patterns, certificate fingerprints.
/// The validator accepts exactly what these parsers accept, so code that consumes a validated
/// configuration parses the same strings the same way.
/// </summary>
public static class ConfigurationSyntax
{
    /// <summary>The longest domain name in presentation form (RFC 1035 2.3.4, less the root's length octet).</summary>
    public const int MaxDomainNameLength = 253;

    private const int MaxLabelLength = 63;

    /// <summary>
    /// Parses a listener endpoint, "address:port" or "[IPv6]:port", where the address is an IP
    /// literal and the port is 1-65535.
    /// </summary>
    public static bool TryParseListenerEndpoint(string? text, out IPEndPoint? endpoint)
    {
        endpoint = null;
        if (DescribeHostAndPort(text, portRequired: true, allowBareIPv6: false, out var host, out var port) is not null
            || !TryParseIPAddress(host, out var address))
        {
            return false;
        }
        endpoint = new IPEndPoint(address!, port!.Value);
        return true;
    }

    /// <summary>
    /// Parses "host", "host:port", "[IP]" or "[IP]:port" (and, when <paramref name="allowBareIPv6"/>,
    /// an IPv6 literal without brackets and without a port). The host is a domain name or an IP
    /// literal; the port, when present, is 1-65535.
    /// </summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="allowBareIPv6">Whether an unbracketed IPv6 literal is accepted (as in <c>dns.servers</c>).</param>
    /// <param name="host">The host: a domain name or the text of an IP literal, without brackets.</param>
    /// <param name="port">The port, or <see langword="null"/> when none was given.</param>
    public static bool TryParseHostAndPort(string? text, bool allowBareIPv6, out string host, out int? port)
        => DescribeHostAndPort(text, portRequired: false, allowBareIPv6, out host, out port) is null;

    /// <summary>
    /// Parses an IP literal strictly: IPv4 only as four decimal octets without leading zeros,
    /// IPv6 without a zone index. (<see cref="IPAddress.TryParse(string, out IPAddress)"/> also
    /// accepts "10", "10.1" and octal forms, which in a policy file are more likely mistakes.)
    /// </summary>
    public static bool TryParseIPAddress(string? text, out IPAddress? address)
    {
        address = null;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        if (text.Contains(':'))
        {
            if (text.Contains('%') || !IPAddress.TryParse(text, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }
            address = v6;
            return true;
        }
        var parts = text.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }
        Span<byte> bytes = stackalloc byte[4];
        for (var i = 0; i < 4; i++)
        {
            var part = parts[i];
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0') || !part.All(char.IsAsciiDigit))
            {
                return false;
            }
            var value = int.Parse(part, NumberStyles.None, CultureInfo.InvariantCulture);
            if (value > 255)
            {
                return false;
            }
            bytes[i] = (byte)value;
        }
        address = new IPAddress(bytes);
        return true;
    }

    /// <summary>
    /// Parses an IP address ("192.0.2.1", "2001:db8::1") or a CIDR range ("192.0.2.0/24",
    /// "2001:db8::/48"). A single address becomes a range of one address (/32 or /128).
    /// </summary>
    public static bool TryParseAddressOrNetwork(string? text, out IPNetwork network)
        => DescribeAddressOrNetwork(text, out network) is null;

    /// <summary>
    /// Whether <paramref name="text"/> is a domain name: dot-separated labels of letters, digits and
    /// hyphens (RFC 1123 2.1), each 1-63 characters and not starting or ending with a hyphen, at
    /// most 253 characters in all, and a last label that is not all digits (RFC 3696 2). Non-ASCII
    /// names are written in their A-label ("xn--") form.
    /// </summary>
    public static bool IsDomainName(string? text) => DescribeDomainName(text) is null;

    /// <summary>
    /// Whether <paramref name="text"/> is a domain name or "*.domain" (the domain and all its
    /// subdomains, as in EOP), or, when <paramref name="allowAny"/>, the single "*" for any domain.
    /// A wildcard anywhere else ("a.*.b", "mail*.x") is not a pattern.
    /// </summary>
    public static bool IsDomainPattern(string? text, bool allowAny) => DescribeDomainPattern(text, allowAny) is null;

    /// <summary>
    /// Parses a SHA-256 certificate fingerprint: 64 hexadecimal digits, optionally separated by
    /// colons ("AB:CD:..."). Returns the 32 bytes.
    /// </summary>
    public static bool TryParseSha256Fingerprint(string? text, out byte[]? fingerprint)
    {
        fingerprint = null;
        if (text is null)
        {
            return false;
        }
        var hex = text.Replace(":", "", StringComparison.Ordinal);
        if (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit))
        {
            return false;
        }
        fingerprint = Convert.FromHexString(hex);
        return true;
    }

    /// <summary>Why <paramref name="text"/> is not "host[:port]", or <see langword="null"/> when it is.</summary>
    internal static string? DescribeHostAndPort(string? text, bool portRequired, bool allowBareIPv6, out string host, out int? port)
    {
        host = "";
        port = null;
        if (string.IsNullOrEmpty(text))
        {
            return "required";
        }
        string? portText = null;
        if (text[0] == '[')
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return "missing ']' after the IP literal";
            }
            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    return "expected ':port' after ']'";
                }
                portText = rest[1..];
            }
            if (!TryParseIPAddress(host, out _))
            {
                return $"'{host}' in brackets is not an IP address";
            }
        }
        else
        {
            var colons = text.Count(static c => c == ':');
            if (colons > 1)
            {
                if (allowBareIPv6 && !portRequired && TryParseIPAddress(text, out _))
                {
                    host = text;
                    return null;
                }
                return "an IPv6 address must be written in brackets, e.g. [2001:db8::1]:25";
            }
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                host = text[..colon];
                portText = text[(colon + 1)..];
            }
            else
            {
                host = text;
            }
            if (host.Length == 0)
            {
                return "missing host before ':'";
            }
            if (!TryParseIPAddress(host, out _) && DescribeDomainName(host) is { } why)
            {
                return $"'{host}' is neither an IP address nor a domain name ({why})";
            }
        }
        if (portText is null)
        {
            return portRequired ? "missing ':port'" : null;
        }
        if (portText.Length is 0 or > 5 || !portText.All(char.IsAsciiDigit))
        {
            return $"port '{portText}' is not a number";
        }
        var value = int.Parse(portText, NumberStyles.None, CultureInfo.InvariantCulture);
        if (value is < 1 or > 65535)
        {
            return $"port {value} is outside 1-65535";
        }
        port = value;
        return null;
    }

    /// <summary>Why <paramref name="text"/> is not an address or CIDR range, or <see langword="null"/> when it is.</summary>
    internal static string? DescribeAddressOrNetwork(string? text, out IPNetwork network)
    {
        network = default;
        if (string.IsNullOrEmpty(text))
        {
            return "required";
        }
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (!TryParseIPAddress(addressText, out var address))
        {
            return $"'{addressText}' is not an IPv4 or IPv6 address";
        }
        var maxPrefix = address!.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = maxPrefix;
        if (slash >= 0)
        {
            var prefixText = text[(slash + 1)..];
            if (prefixText.Length is 0 or > 3 || !prefixText.All(char.IsAsciiDigit)
                || (prefix = int.Parse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture)) > maxPrefix)
            {
                return $"prefix length '{prefixText}' is not 0-{maxPrefix}";
            }
        }
        var bytes = address.GetAddressBytes();
        var masked = (byte[])bytes.Clone();
        for (var bit = prefix; bit < masked.Length * 8; bit++)
        {
            masked[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }
        if (!bytes.AsSpan().SequenceEqual(masked))
        {
            return $"address has bits set beyond the /{prefix} prefix; did you mean {new IPAddress(masked)}/{prefix}?";
        }
        network = new IPNetwork(address, prefix);
        return null;
    }

    /// <summary>Why <paramref name="text"/> is not a domain name, or <see langword="null"/> when it is.</summary>
    internal static string? DescribeDomainName(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "required";
        }
        if (text.Length > MaxDomainNameLength)
        {
            return $"longer than {MaxDomainNameLength} characters";
        }
        if (text.Contains('*'))
        {
            return "a wildcard is not allowed here";
        }
        var labels = text.Split('.');
        foreach (var label in labels)
        {
            if (label.Length == 0)
            {
                return "empty label";
            }
            if (label.Length > MaxLabelLength)
            {
                return $"label '{label[..10]}...' is longer than {MaxLabelLength} characters";
            }
            if (!label.All(static c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return label.Any(static c => c > 0x7F)
                    ? $"label '{label}' is not ASCII; write it in its A-label (xn--) form"
                    : $"label '{label}' has a character other than a letter, digit or hyphen";
            }
            if (label[0] == '-' || label[^1] == '-')
            {
                return $"label '{label}' starts or ends with a hyphen";
            }
        }
        if (labels[^1].All(char.IsAsciiDigit))
        {
            return "the last label is all digits";
        }
        return null;
    }

    /// <summary>Why <paramref name="text"/> is not a domain pattern, or <see langword="null"/> when it is.</summary>
    internal static string? DescribeDomainPattern(string? text, bool allowAny)
    {
        if (text == "*")
        {
            return allowAny ? null : "'*' (any domain) is not allowed here";
        }
        var domain = text is not null && text.StartsWith("*.", StringComparison.Ordinal) ? text[2..] : text;
        if (domain is not null && domain.Contains('*'))
        {
            return "a wildcard is allowed only as a whole first label ('*.example.com')";
        }
        return DescribeDomainName(domain);
    }
}
