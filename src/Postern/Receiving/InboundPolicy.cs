using System.Net;
using System.Security.Cryptography.X509Certificates;
using Postern.Configuration;
using Postern.Smtp;
using Postern.Tls;

namespace Postern.Receiving;

/// <summary>An inbound connector compiled for matching.</summary>
public sealed class InboundConnector
{
    internal InboundConnector(string organization, InboundConnectorSettings settings)
    {
        Organization = organization;
        Settings = settings;
        Networks = settings.SenderIPAddresses.Select(ParseNetwork).ToArray();
    }

    public string Organization { get; }
    public InboundConnectorSettings Settings { get; }
    public string Name => Settings.Name;
    public IReadOnlyList<IPNetwork> Networks { get; }

    public bool MatchesAddress(IPAddress address) => Networks.Any(n => n.Contains(address));

    public bool MatchesCertificate(ClientCertificateIdentity? certificate) =>
        certificate is { IsTrusted: true } && Settings.TlsSenderCertificateName is { Length: > 0 } expected
        && certificate.Names.Any(name => CertificateNames.MatchesPattern(expected, name));

    public bool MatchesSenderDomain(string? domain) =>
        domain is not null && Settings.SenderDomains.Any(pattern => pattern == "*" || CertificateNames.MatchesPattern(pattern, domain));

    internal static IPNetwork ParseNetwork(string text)
    {
        if (text.Contains('/')) return IPNetwork.Parse(text);
        IPAddress address = IPAddress.Parse(text);
        return new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
    }
}

/// <summary>What the gateway knows of a client certificate after the handshake.</summary>
/// <param name="Names">DNS names per RFC 6125 (SAN dNSNames, else the CN).</param>
/// <param name="IsTrusted">Whether its chain reaches the trust policy; an untrusted certificate identifies no one.</param>
public sealed record ClientCertificateIdentity(X509Certificate2 Certificate, IReadOnlyList<string> Names, bool IsTrusted, string? Problem);

/// <summary>Who the client is, as far as inbound connectors are concerned.</summary>
public sealed record ClientIdentity(IPAddress Address, ClientCertificateIdentity? Certificate, InboundConnector? OnPremises);

/// <summary>
/// Inbound policy compiled from one configuration snapshot: accepted domains, inbound connectors
/// and the relay rule (mail for accepted domains from anyone; any other domain only from a client
/// matched to an OnPremises connector).
/// </summary>
public sealed class InboundPolicy
{
    private readonly Dictionary<string, string> _acceptedDomains; // domain → organization
    private readonly InboundConnector[] _connectors;

    private InboundPolicy(Dictionary<string, string> acceptedDomains, InboundConnector[] connectors)
    {
        _acceptedDomains = acceptedDomains;
        _connectors = connectors;
    }

    public IReadOnlyList<InboundConnector> Connectors => _connectors;

    public static InboundPolicy Compile(PosternConfiguration configuration)
    {
        var accepted = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var connectors = new List<InboundConnector>();
        foreach (OrganizationSettings organization in configuration.Organizations)
        {
            foreach (string domain in organization.AcceptedDomains) accepted.TryAdd(NormalizeDomain(domain), organization.Name);
            foreach (InboundConnectorSettings connector in organization.InboundConnectors)
            {
                if (connector.Enabled) connectors.Add(new InboundConnector(organization.Name, connector));
            }
        }
        return new InboundPolicy(accepted, [.. connectors]);
    }

    public bool IsAcceptedDomain(string domain) => _acceptedDomains.ContainsKey(NormalizeDomain(domain));

    /// <summary>Identifies the client: certificate name first, then address (EOP's order).</summary>
    public ClientIdentity Identify(IPAddress address, ClientCertificateIdentity? certificate)
    {
        address = Normalize(address);
        InboundConnector? onPremises =
            _connectors.FirstOrDefault(c => c.Settings.ConnectorType == ConnectorType.OnPremises && c.MatchesCertificate(certificate))
            ?? _connectors.FirstOrDefault(c => c.Settings.ConnectorType == ConnectorType.OnPremises && c.MatchesAddress(address));
        return new ClientIdentity(address, certificate, onPremises);
    }

    /// <summary>
    /// Checks MAIL FROM against the Partner connectors that name the sender's domain or the client's
    /// address. Returns the connector that applies (or null) and a refusal (or null).
    /// </summary>
    public (InboundConnector? Connector, SmtpReply? Refusal) CheckSender(ClientIdentity client, string sender, bool tls)
    {
        if (client.OnPremises is not null) return (client.OnPremises, null);
        string? domain = SmtpPathParser.DomainOf(sender);
        InboundConnector? partner =
            _connectors.FirstOrDefault(c => c.Settings.ConnectorType == ConnectorType.Partner && c.MatchesCertificate(client.Certificate))
            ?? _connectors.FirstOrDefault(c => c.Settings.ConnectorType == ConnectorType.Partner && c.MatchesSenderDomain(domain))
            ?? _connectors.FirstOrDefault(c => c.Settings.ConnectorType == ConnectorType.Partner && c.MatchesAddress(client.Address));
        if (partner is null) return (null, null);

        InboundConnectorSettings s = partner.Settings;
        if (s.RequireTls && !tls) return (partner, Replies.MustIssueStartTls);
        if (s.RestrictDomainsToCertificate && !partner.MatchesCertificate(client.Certificate))
        {
            string presented = client.Certificate switch
            {
                null => "no certificate was presented",
                { IsTrusted: false } c => $"the certificate presented is not trusted ({c.Problem})",
                var c => $"the certificate presented is named [{string.Join(", ", c.Names)}]",
            };
            return (partner, new SmtpReply(550, "5.7.1",
                $"Connector \"{partner.Name}\" requires a TLS certificate named {s.TlsSenderCertificateName}; {presented}"));
        }
        if (s.RestrictDomainsToIPAddresses && !partner.MatchesAddress(client.Address))
        {
            return (partner, new SmtpReply(550, "5.7.1",
                $"Connector \"{partner.Name}\" accepts mail for this sender only from [{string.Join(", ", s.SenderIPAddresses)}]; not from {client.Address}"));
        }
        return (partner, null);
    }

    /// <summary>The relay rule for one recipient: null when it may be accepted, else the refusal.</summary>
    public SmtpReply? CheckRecipient(ClientIdentity client, string recipient)
    {
        string? domain = SmtpPathParser.DomainOf(recipient);
        if (domain is null) return null; // <postmaster> (RFC 5321 4.5.1)
        if (IsAcceptedDomain(domain)) return null;
        if (client.OnPremises is not null) return null;
        return Replies.RelayDenied;
    }

    internal static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static string NormalizeDomain(string domain) => domain.TrimEnd('.').ToLowerInvariant();
}
