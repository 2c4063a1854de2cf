using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Postern.Probing;

/// <summary>
/// What to probe, in Postfix next-hop syntax: <c>domain</c> (its MX hosts, or the implicit MX),
/// <c>host:port</c>, <c>[host]</c> or <c>[ip]:port</c> (that host, no MX lookup), or an IP address.
/// </summary>
/// <param name="Name">The domain, host name or address as given (without brackets or port).</param>
/// <param name="Port">The port; 25 unless given (465 by default with implicit TLS).</param>
/// <param name="IsDomain">Whether MX hosts are looked up.</param>
/// <param name="Address">The literal address, when the target is one.</param>
public sealed record ProbeTarget(string Name, int Port, bool IsDomain, IPAddress? Address)
{
    /// <summary>Parses a target; null with an <paramref name="error"/> when it is not one.</summary>
    public static ProbeTarget? Parse(string text, int? port, bool implicitTls, out string? error)
    {
        error = null;
        var defaultPort = port ?? (implicitTls ? 465 : 25);
        var value = text?.Trim() ?? "";
        if (value.Length == 0)
        {
            error = "the target is empty";
            return null;
        }

        string host;
        int? givenPort = null;
        var bracketed = value.StartsWith('[');
        if (bracketed)
        {
            var close = value.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"'{value}': missing ']'";
                return null;
            }

            host = value[1..close];
            var rest = value[(close + 1)..];
            if (rest.Length > 0)
            {
                if (!rest.StartsWith(':') || !TryPort(rest[1..], out var p))
                {
                    error = $"'{value}': expected [host]:port";
                    return null;
                }

                givenPort = p;
            }
        }
        else if (IPAddress.TryParse(value, out var bare) && (bare.AddressFamily == AddressFamily.InterNetworkV6 || value.Count(c => c == ':') == 0))
        {
            return new ProbeTarget(bare.ToString(), defaultPort, false, bare);
        }
        else
        {
            var colon = value.LastIndexOf(':');
            host = colon < 0 ? value : value[..colon];
            if (colon >= 0)
            {
                if (!TryPort(value[(colon + 1)..], out var p))
                {
                    error = $"'{value}': the port must be a number from 1 to 65535";
                    return null;
                }

                givenPort = p;
            }
        }

        if (port is not null && givenPort is not null && port != givenPort)
        {
            error = $"'{value}' names port {givenPort} but --port says {port}";
            return null;
        }

        if (IPAddress.TryParse(host, out var address))
        {
            return new ProbeTarget(address.ToString(), givenPort ?? defaultPort, false, address);
        }

        if (Tls.CertificateNames.Normalize(host) is null || host.Contains('*') || host.Contains(' ') || host.Contains('/'))
        {
            error = $"'{host}' is not a host name, a domain or an IP address";
            return null;
        }

        var isDomain = !bracketed && givenPort is null;
        return new ProbeTarget(host.TrimEnd('.'), givenPort ?? defaultPort, isDomain, null);
    }

    private static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536;

    /// <summary>As a user would type it back.</summary>
    public override string ToString() =>
        IsDomain ? Name : Address is not null ? $"[{Name}]:{Port}" : $"{Name}:{Port}";
}
