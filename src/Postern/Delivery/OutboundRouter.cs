using Postern.Configuration;
using Postern.Smtp;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>
/// Where and how one recipient's mail goes: the connector that applies (or the default), the next
/// hop (smart hosts, or MX of the recipient domain) and the TLS demands of the attempt.
/// </summary>
public sealed record DeliveryRoute
{
    /// <summary>The outbound connector's name; null under <c>defaultOutbound</c>.</summary>
    public string? Connector { get; init; }
    public string? Organization { get; init; }
    public TlsLevel TlsLevel { get; init; }
    /// <summary>Names a DomainValidation certificate must match; empty: the smart host or MX host name.</summary>
    public string? TlsDomain { get; init; }
    /// <summary>"host" or "host:port" or "[ip]:port"; empty means MX delivery to <see cref="Domain"/>.</summary>
    public IReadOnlyList<string> SmartHosts { get; init; } = [];
    /// <summary>The recipient domain (lower-case), for MX delivery.</summary>
    public required string Domain { get; init; }
    public IReadOnlyList<string> CertificateFingerprints { get; init; } = [];
    public IReadOnlyList<string> TrustedRoots { get; init; } = [];
    public CertificateSettings? ClientCertificate { get; init; }
    public bool TestMode { get; init; }
    /// <summary>Opportunistic only: after a failed TLS handshake, try again in plain text on a new connection.</summary>
    public bool PlaintextFallback { get; init; }

    /// <summary>
    /// Recipients with equal keys can share one connection and one transaction: same next hop and
    /// same TLS policy (Postfix's "destination" plus the policy).
    /// </summary>
    public string DestinationKey => SmartHosts.Count > 0
        ? $"{Connector}|smarthost:{string.Join(",", SmartHosts)}|{TlsLevel}|{TlsDomain}"
        : $"{Connector}|mx:{Domain}|{TlsLevel}|{TlsDomain}";
}

/// <summary>
/// Picks the outbound connector for a recipient (PRODUCT.md): the exact recipient domain first, then
/// an OnPremises connector with <c>allAcceptedDomains</c> for an accepted domain, then the most
/// specific wildcard; no match: MX delivery under <c>defaultOutbound</c>.
/// </summary>
public sealed class OutboundRouter
{
    private readonly Dictionary<string, (OrganizationSettings Organization, OutboundConnectorSettings Connector)> _exact = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string Pattern, OrganizationSettings Organization, OutboundConnectorSettings Connector)> _wildcards = [];
    private readonly Dictionary<string, (OrganizationSettings Organization, OutboundConnectorSettings Connector)> _acceptedDomains = new(StringComparer.OrdinalIgnoreCase);
    private readonly TlsLevel _defaultLevel;
    private readonly bool _defaultFallback;

    public OutboundRouter(PosternConfiguration configuration)
    {
        _defaultLevel = configuration.Gateway.DefaultOutbound.TlsSettings;
        _defaultFallback = configuration.Gateway.DefaultOutbound.PlaintextFallback;
        foreach (OrganizationSettings organization in configuration.Organizations)
        {
            foreach (OutboundConnectorSettings connector in organization.OutboundConnectors)
            {
                if (!connector.Enabled) continue;
                foreach (string domain in connector.RecipientDomains)
                {
                    string d = Normalize(domain);
                    if (d.StartsWith('*')) _wildcards.Add((d, organization, connector));
                    else _exact.TryAdd(d, (organization, connector));
                }
                if (connector.AllAcceptedDomains && connector.ConnectorType == ConnectorType.OnPremises)
                {
                    foreach (string domain in organization.AcceptedDomains) _acceptedDomains.TryAdd(Normalize(domain), (organization, connector));
                }
            }
        }
        // Most specific first: "*.a.b.example" before "*.b.example" before "*".
        _wildcards.Sort((x, y) => y.Pattern.Length.CompareTo(x.Pattern.Length));
    }

    public DeliveryRoute Route(string recipient)
    {
        string domain = Normalize(SmtpPathParser.DomainOf(recipient) ?? "");
        if (_exact.TryGetValue(domain, out var exact)) return FromConnector(domain, exact.Organization, exact.Connector);
        if (_acceptedDomains.TryGetValue(domain, out var accepted)) return FromConnector(domain, accepted.Organization, accepted.Connector);
        foreach ((string pattern, OrganizationSettings organization, OutboundConnectorSettings connector) in _wildcards)
        {
            if (pattern == "*" || CertificateNames.MatchesPattern(pattern, domain)) return FromConnector(domain, organization, connector);
        }
        return new DeliveryRoute { Domain = domain, TlsLevel = _defaultLevel, PlaintextFallback = _defaultFallback };
    }

    private static DeliveryRoute FromConnector(string domain, OrganizationSettings organization, OutboundConnectorSettings connector) => new()
    {
        Connector = connector.Name,
        Organization = organization.Name,
        Domain = domain,
        TlsLevel = connector.TlsSettings,
        TlsDomain = connector.TlsDomain,
        SmartHosts = connector.UseMxRecord == true ? [] : connector.SmartHosts,
        CertificateFingerprints = connector.CertificateFingerprints,
        TrustedRoots = connector.TrustedRoots,
        ClientCertificate = connector.ClientCertificate,
        TestMode = connector.TestMode,
        PlaintextFallback = connector.PlaintextFallback,
    };

    private static string Normalize(string domain) => domain.Trim().TrimEnd('.').ToLowerInvariant();
}
