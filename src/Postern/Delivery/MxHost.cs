using System.Net;

namespace Postern.Delivery;

/// <summary>
/// One host to try for a destination: an MX exchange, the domain itself (implicit MX), an address
/// literal, or a smart host; with its addresses in the order to try them.
/// </summary>
/// <param name="Name">
/// The host name as published (MX exchange, domain, or smart host, without a trailing dot), or the
/// IP address text for an address literal. This is the name TLS verification checks against.
/// </param>
/// <param name="Preference">The MX preference; 0 for an implicit MX, an address literal or a smart host.</param>
/// <param name="Addresses">The addresses, IPv4 before IPv6 unless the resolver prefers IPv6; never empty.</param>
/// <param name="IsImplicit">
/// Whether the host does not come from an MX record: the domain's own A/AAAA records (RFC 5321
/// 5.1), an address literal, or a smart host.
/// </param>
/// <param name="Port">The port given with a smart host ("host:port"); <see langword="null"/> for the SMTP default.</param>
public sealed record MxHost(string Name, int Preference, IReadOnlyList<IPAddress> Addresses, bool IsImplicit, int? Port = null);
