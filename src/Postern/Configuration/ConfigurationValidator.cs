using System.Net;
using System.Net.Security;

namespace Postern.Configuration;

/// <summary>
/// Checks a bound configuration against the rules of the contract and returns every problem, each
/// at its JSON path. Pure apart from checking that referenced files exist and can be opened: no
/// sockets, no certificate parsing (the TLS code checks content).
/// </summary>
public static class ConfigurationValidator
{
    private static readonly HashSet<string> CipherSuiteNames =
        new(Enum.GetNames<TlsCipherSuite>(), StringComparer.OrdinalIgnoreCase);

    /// <summary>Validates <paramref name="configuration"/> and returns all errors and warnings, in document order.</summary>
    /// <param name="configuration">The configuration to check.</param>
    /// <param name="baseDirectory">
    /// Directory against which relative file paths are checked; the current directory when
    /// <see langword="null"/>. (A configuration from <see cref="ConfigurationLoader"/> already has absolute paths.)
    /// </param>
    public static IReadOnlyList<ConfigurationError> Validate(PosternConfiguration configuration, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var run = new ValidationRun(baseDirectory ?? Directory.GetCurrentDirectory());
        run.Gateway(configuration.Gateway ?? new GatewaySettings());
        run.Organizations(configuration.Organizations ?? [], configuration.Gateway ?? new GatewaySettings());
        return run.Problems;
    }

    private sealed class ValidationRun(string baseDirectory)
    {
        public List<ConfigurationError> Problems { get; } = [];

        private void Error(string path, string message) => Problems.Add(new ConfigurationError(path, message));

        private void Warning(string path, string message) => Problems.Add(new ConfigurationError(path, message, IsWarning: true));

        public void Gateway(GatewaySettings gateway)
        {
            const string G = "$.gateway";
            if (gateway.HostName is not null && ConfigurationSyntax.DescribeDomainName(gateway.HostName) is { } hostProblem)
            {
                Error($"{G}.hostName", $"not a valid host name: {hostProblem}");
            }
            if (string.IsNullOrWhiteSpace(gateway.DataDirectory))
            {
                Error($"{G}.dataDirectory", "required");
            }
            Listeners(gateway);
            for (var i = 0; i < gateway.Certificates.Count; i++)
            {
                Certificate(gateway.Certificates[i], $"{G}.certificates[{i}]");
            }
            Tls(gateway.Tls, $"{G}.tls");
            Trust(gateway.Trust, $"{G}.trust");
            Dns(gateway.Dns, $"{G}.dns");
            if (gateway.DefaultOutbound.SourceAddress is { } source && !System.Net.IPAddress.TryParse(source, out _))
            {
                Error($"{G}.defaultOutbound.sourceAddress", $"\"{source}\" is not an IPv4 or IPv6 address");
            }
            if (gateway.Admin is { } admin)
            {
                AdminEndpoint(admin.Endpoint, $"{G}.admin.endpoint");
            }
            Limits(gateway.Limits, $"{G}.limits");
            Queue(gateway.Queue, $"{G}.queue");
            Trace(gateway.Trace, $"{G}.trace");
        }

        private void Listeners(GatewaySettings gateway)
        {
            const string L = "$.gateway.listeners";
            if (gateway.Listeners.Count == 0)
            {
                Error(L, "at least one listener is required");
                return;
            }
            var seen = new Dictionary<IPEndPoint, int>();
            var tlsListeners = new List<int>();
            for (var i = 0; i < gateway.Listeners.Count; i++)
            {
                var listener = gateway.Listeners[i];
                var path = $"{L}[{i}]";
                var problem = ConfigurationSyntax.DescribeHostAndPort(listener.Endpoint, portRequired: true, allowBareIPv6: false, out var host, out var port);
                if (problem is null && !ConfigurationSyntax.TryParseIPAddress(host, out _))
                {
                    problem = $"'{host}' is not an IP address";
                }
                if (problem is not null)
                {
                    Error($"{path}.endpoint", $"{problem}; expected \"address:port\", e.g. \"0.0.0.0:25\" or \"[::]:25\"");
                }
                else
                {
                    var endpoint = new IPEndPoint(IPAddress.Parse(host), port!.Value);
                    if (seen.TryGetValue(endpoint, out var first))
                    {
                        Error($"{path}.endpoint", $"duplicate endpoint {endpoint}; also used by {L}[{first}]");
                    }
                    else
                    {
                        seen.Add(endpoint, i);
                    }
                }
                if (listener.Security is ListenerSecurity.StartTls or ListenerSecurity.ImplicitTls)
                {
                    tlsListeners.Add(i);
                }
                else if (listener.RequestClientCertificate)
                {
                    Warning($"{path}.requestClientCertificate", "ignored: a listener without TLS cannot request a client certificate");
                }
            }
            if (tlsListeners.Count > 0 && gateway.Certificates.Count == 0)
            {
                var name = gateway.HostName ?? "the machine's name";
                Warning("$.gateway.certificates",
                    $"empty: listeners {string.Join(", ", tlsListeners.Select(static i => $"[{i}]"))} use TLS, so a self-signed certificate for {name} will be generated at start; strict peers will not accept it");
            }
        }

        private void Certificate(CertificateSettings certificate, string path)
        {
            File(certificate.CertificateFile, $"{path}.certificateFile");
            if (certificate.KeyFile is not null)
            {
                File(certificate.KeyFile, $"{path}.keyFile");
            }
        }

        private void File(string? file, string path)
        {
            if (string.IsNullOrWhiteSpace(file))
            {
                Error(path, "required");
                return;
            }
            string full;
            try
            {
                full = Path.GetFullPath(file, baseDirectory);
            }
            catch (ArgumentException)
            {
                Error(path, $"'{file}' is not a valid file path");
                return;
            }
            if (Directory.Exists(full))
            {
                Error(path, $"{full} is a directory, not a file");
                return;
            }
            try
            {
                using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                Error(path, $"file not found: {full}");
            }
            catch (UnauthorizedAccessException)
            {
                Error(path, $"file cannot be read (permission denied): {full}");
            }
            catch (IOException e)
            {
                Error(path, $"file cannot be read: {full}: {e.Message}");
            }
        }

        private void Tls(TlsSettings tls, string path)
        {
            if (tls.MinimumVersion is not ("1.2" or "1.3"))
            {
                Error($"{path}.minimumVersion", $"\"{tls.MinimumVersion}\" is not a supported version; expected \"1.2\" or \"1.3\"");
            }
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < tls.CipherSuites.Count; i++)
            {
                var suite = tls.CipherSuites[i];
                var itemPath = $"{path}.cipherSuites[{i}]";
                if (string.IsNullOrEmpty(suite) || !CipherSuiteNames.Contains(suite))
                {
                    Error(itemPath, $"\"{suite}\" is not an IANA TLS cipher suite name (e.g. TLS_AES_256_GCM_SHA384)");
                }
                else if (!seen.Add(suite))
                {
                    Warning(itemPath, $"{suite} is listed twice");
                }
            }
        }

        private void Trust(TrustSettings trust, string path)
        {
            for (var i = 0; i < trust.AdditionalRoots.Count; i++)
            {
                File(trust.AdditionalRoots[i], $"{path}.additionalRoots[{i}]");
            }
            if (!trust.UseSystemStore && trust.AdditionalRoots.Count == 0)
            {
                Warning($"{path}.useSystemStore", "false with no additionalRoots: no root is trusted, so every certificate validation will fail");
            }
        }

        private void Dns(DnsSettings dns, string path)
        {
            for (var i = 0; i < dns.Servers.Count; i++)
            {
                if (ConfigurationSyntax.DescribeHostAndPort(dns.Servers[i], portRequired: false, allowBareIPv6: true, out _, out _) is { } problem)
                {
                    Error($"{path}.servers[{i}]", $"{problem}; expected \"host\" or \"host:port\"");
                }
            }
            Positive(dns.TimeoutSeconds, $"{path}.timeoutSeconds");
        }

        private void AdminEndpoint(string endpoint, string path)
        {
            if (endpoint is not null && endpoint.StartsWith("unix:", StringComparison.Ordinal))
            {
                if (!endpoint[5..].StartsWith('/'))
                {
                    Error(path, "a Unix socket path must be absolute, e.g. \"unix:/run/postern/admin.sock\"");
                }
                return;
            }
            var problem = ConfigurationSyntax.DescribeHostAndPort(endpoint, portRequired: true, allowBareIPv6: false, out var host, out _);
            if (problem is not null)
            {
                Error(path, $"{problem}; expected \"127.0.0.1:port\", \"[::1]:port\", \"localhost:port\" or \"unix:/path\"");
            }
            else if (!string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
                && !(ConfigurationSyntax.TryParseIPAddress(host, out var address) && IPAddress.IsLoopback(address!)))
            {
                Error(path, $"'{host}' is not a loopback address; the admin endpoint must be 127.0.0.0/8, ::1, localhost or a Unix socket");
            }
        }

        private void Limits(LimitSettings limits, string path)
        {
            // RFC 5321 4.5.3.1.4: a command line of up to 512 octets must be accepted.
            if (limits.MaxCommandLineLength < 512)
            {
                Error($"{path}.maxCommandLineLength", "must be at least 512 (RFC 5321 4.5.3.1.4)");
            }
            Positive(limits.MaxRecipientsPerMessage, $"{path}.maxRecipientsPerMessage");
            Positive(limits.MaxMessageSize, $"{path}.maxMessageSize");
            Positive(limits.CommandTimeoutSeconds, $"{path}.commandTimeoutSeconds");
            Positive(limits.SessionTimeoutSeconds, $"{path}.sessionTimeoutSeconds");
            Positive(limits.TlsHandshakeTimeoutSeconds, $"{path}.tlsHandshakeTimeoutSeconds");
            Positive(limits.MaxConnections, $"{path}.maxConnections");
            Positive(limits.MaxConnectionsPerClient, $"{path}.maxConnectionsPerClient");
            Positive(limits.MaxBadCommands, $"{path}.maxBadCommands");
            NotNegative(limits.MaxMessagesPerSession, $"{path}.maxMessagesPerSession");
            Positive(limits.ShutdownGraceSeconds, $"{path}.shutdownGraceSeconds");
            NotNegative(limits.GreetingDelayMilliseconds, $"{path}.greetingDelayMilliseconds");
            // RFC 5321 4.5.3.1.8: a server must accept at least 100 recipients.
            if (limits.MaxRecipientsPerMessage is > 0 and < 100)
            {
                Warning($"{path}.maxRecipientsPerMessage", "below the 100 recipients RFC 5321 4.5.3.1.8 requires a server to accept");
            }
            if (limits.MaxConnectionsPerClient > limits.MaxConnections && limits.MaxConnections > 0)
            {
                Warning($"{path}.maxConnectionsPerClient", $"greater than maxConnections ({limits.MaxConnections}), so it never applies");
            }
            if (limits.SessionTimeoutSeconds < limits.CommandTimeoutSeconds && limits.SessionTimeoutSeconds > 0)
            {
                Warning($"{path}.sessionTimeoutSeconds", $"shorter than commandTimeoutSeconds ({limits.CommandTimeoutSeconds})");
            }
        }

        private void Queue(QueueSettings queue, string path)
        {
            Positive(queue.LifetimeHours, $"{path}.lifetimeHours");
            Positive(queue.DelayWarningHours, $"{path}.delayWarningHours");
            Positive(queue.MinimumBackoffSeconds, $"{path}.minimumBackoffSeconds");
            Positive(queue.MaximumBackoffSeconds, $"{path}.maximumBackoffSeconds");
            Positive(queue.MaxConcurrentDeliveries, $"{path}.maxConcurrentDeliveries");
            Positive(queue.MaxConcurrentDeliveriesPerDestination, $"{path}.maxConcurrentDeliveriesPerDestination");
            if (queue.MinimumBackoffSeconds > queue.MaximumBackoffSeconds)
            {
                Error($"{path}.minimumBackoffSeconds", $"greater than maximumBackoffSeconds ({queue.MaximumBackoffSeconds})");
            }
            if (queue.DelayWarningHours >= queue.LifetimeHours && queue.LifetimeHours > 0)
            {
                Warning($"{path}.delayWarningHours", $"not less than lifetimeHours ({queue.LifetimeHours}), so no delay warning is ever sent");
            }
        }

        private void Trace(TraceSettings trace, string path)
        {
            if (trace.RetentionDays < 1)
            {
                Error($"{path}.retentionDays", $"must be at least 1 (is {trace.RetentionDays})");
            }
            if (trace.MaxSizeMegabytes < 16)
            {
                Error($"{path}.maxSizeMegabytes", $"must be at least 16 (is {trace.MaxSizeMegabytes})");
            }
        }

        private void Positive(long value, string path)
        {
            if (value <= 0)
            {
                Error(path, $"must be greater than 0 (is {value})");
            }
        }

        private void NotNegative(long value, string path)
        {
            if (value < 0)
            {
                Error(path, $"must not be negative (is {value})");
            }
        }

        public void Organizations(IReadOnlyList<OrganizationSettings> organizations, GatewaySettings gateway)
        {
            var names = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var acceptedDomains = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var inboundNames = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var outboundNames = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var recipientDomains = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var clientCertificatesRequested = gateway.Listeners.Any(static l => l.RequestClientCertificate && l.Security != ListenerSecurity.None);
            _noTrustRoot = !gateway.Trust.UseSystemStore && gateway.Trust.AdditionalRoots.Count == 0;
            for (var o = 0; o < organizations.Count; o++)
            {
                var organization = organizations[o];
                var path = $"$.organizations[{o}]";
                if (string.IsNullOrWhiteSpace(organization.Name))
                {
                    Error($"{path}.name", "required");
                }
                else if (names.TryGetValue(organization.Name, out var first))
                {
                    Error($"{path}.name", $"duplicate organization name \"{organization.Name}\"; also used by $.organizations[{first}]");
                }
                else
                {
                    names.Add(organization.Name, o);
                }

                if (organization.AcceptedDomains.Count == 0)
                {
                    Warning($"{path}.acceptedDomains", "empty: the organization receives no mail");
                }
                for (var d = 0; d < organization.AcceptedDomains.Count; d++)
                {
                    var domain = organization.AcceptedDomains[d];
                    var domainPath = $"{path}.acceptedDomains[{d}]";
                    if (ConfigurationSyntax.DescribeDomainName(domain) is { } problem)
                    {
                        Error(domainPath, $"\"{domain}\" is not a valid domain name: {problem}");
                    }
                    else if (acceptedDomains.TryGetValue(domain, out var owner))
                    {
                        Error(domainPath, $"duplicate accepted domain {domain}; also accepted at {owner}");
                    }
                    else
                    {
                        acceptedDomains.Add(domain, domainPath);
                    }
                }
                for (var c = 0; c < organization.Certificates.Count; c++)
                {
                    Certificate(organization.Certificates[c], $"{path}.certificates[{c}]");
                }
                for (var c = 0; c < organization.InboundConnectors.Count; c++)
                {
                    Inbound(organization.InboundConnectors[c], $"{path}.inboundConnectors[{c}]", inboundNames, clientCertificatesRequested);
                }
                var allAccepted = -1;
                for (var c = 0; c < organization.OutboundConnectors.Count; c++)
                {
                    var connector = organization.OutboundConnectors[c];
                    var connectorPath = $"{path}.outboundConnectors[{c}]";
                    Outbound(connector, connectorPath, outboundNames, recipientDomains);
                    if (connector.AllAcceptedDomains && connector.ConnectorType == ConnectorType.OnPremises)
                    {
                        if (allAccepted >= 0)
                        {
                            Error($"{connectorPath}.allAcceptedDomains",
                                $"another connector of this organization already claims all accepted domains: {path}.outboundConnectors[{allAccepted}]");
                        }
                        else
                        {
                            allAccepted = c;
                        }
                    }
                }
            }
        }

        private void UniqueName(string name, string path, Dictionary<string, string> names, string kind)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                Error($"{path}.name", "required");
            }
            else if (names.TryGetValue(name, out var first))
            {
                Error($"{path}.name", $"duplicate {kind} connector name \"{name}\"; also used by {first}");
            }
            else
            {
                names.Add(name, path);
            }
        }

        private bool _noTrustRoot;

        private void Inbound(InboundConnectorSettings connector, string path, Dictionary<string, string> names, bool clientCertificatesRequested)
        {
            UniqueName(connector.Name, path, names, "inbound");
            for (var i = 0; i < connector.SenderDomains.Count; i++)
            {
                var domain = connector.SenderDomains[i];
                if (ConfigurationSyntax.DescribeDomainPattern(domain, allowAny: true) is { } problem)
                {
                    Error($"{path}.senderDomains[{i}]", $"\"{domain}\" is not a domain, \"*.domain\" or \"*\": {problem}");
                }
            }
            for (var i = 0; i < connector.SenderIPAddresses.Count; i++)
            {
                var entry = connector.SenderIPAddresses[i];
                if (ConfigurationSyntax.DescribeAddressOrNetwork(entry, out _) is { } problem)
                {
                    Error($"{path}.senderIPAddresses[{i}]", $"\"{entry}\" is not an IP address or CIDR range: {problem}");
                }
            }
            var certificateName = connector.TlsSenderCertificateName;
            if (certificateName is not null)
            {
                if (ConfigurationSyntax.DescribeDomainPattern(certificateName, allowAny: false) is { } problem)
                {
                    Error($"{path}.tlsSenderCertificateName", $"\"{certificateName}\" is not a name or \"*.domain\": {problem}");
                }
                if (!clientCertificatesRequested)
                {
                    Warning($"{path}.tlsSenderCertificateName",
                        "no listener has requestClientCertificate: true with TLS, so no client certificate is ever presented");
                }
                if (_noTrustRoot)
                {
                    // An untrusted certificate identifies no one: with no root at all, no client can ever match.
                    Warning($"{path}.tlsSenderCertificateName",
                        "no trust root is configured (trust.useSystemStore is false and trust.additionalRoots is empty), so no certificate can ever satisfy this name");
                }
            }
            if (connector.RestrictDomainsToCertificate && string.IsNullOrEmpty(certificateName))
            {
                Error($"{path}.restrictDomainsToCertificate", "requires tlsSenderCertificateName");
            }
            if (connector.RestrictDomainsToIPAddresses && connector.SenderIPAddresses.Count == 0)
            {
                Error($"{path}.restrictDomainsToIPAddresses", "requires senderIPAddresses");
            }
            if (connector.ConnectorType == ConnectorType.OnPremises && connector.SenderIPAddresses.Count == 0 && string.IsNullOrEmpty(certificateName))
            {
                Error(path, "an OnPremises inbound connector needs senderIPAddresses or tlsSenderCertificateName to recognise the organization's servers");
            }
            if (connector.ConnectorType == ConnectorType.Partner && connector.SenderDomains.Count == 0)
            {
                Warning($"{path}.senderDomains", "empty: a Partner inbound connector applies to no sender (use \"*\" for any)");
            }
        }

        private void Outbound(OutboundConnectorSettings connector, string path, Dictionary<string, string> names, Dictionary<string, string> recipientDomains)
        {
            if (connector.PlaintextFallback && connector.TlsSettings != TlsLevel.Opportunistic)
            {
                Warning($"{path}.plaintextFallback", $"ignored: only Opportunistic falls back to plain text, and this connector is {connector.TlsSettings}");
            }
            UniqueName(connector.Name, path, names, "outbound");
            for (var i = 0; i < connector.RecipientDomains.Count; i++)
            {
                var domain = connector.RecipientDomains[i];
                var domainPath = $"{path}.recipientDomains[{i}]";
                if (ConfigurationSyntax.DescribeDomainPattern(domain, allowAny: true) is { } problem)
                {
                    Error(domainPath, $"\"{domain}\" is not a domain, \"*.domain\" or \"*\": {problem}");
                }
                else if (recipientDomains.TryGetValue(domain, out var owner))
                {
                    Error(domainPath, $"{domain} is already claimed by {owner}; connector choice would be ambiguous");
                }
                else
                {
                    recipientDomains.Add(domain, domainPath);
                }
            }
            if (connector.AllAcceptedDomains && connector.ConnectorType == ConnectorType.Partner)
            {
                Error($"{path}.allAcceptedDomains", "not allowed on a Partner connector (only OnPremises connectors deliver to the organization's own servers)");
            }
            if (connector.RecipientDomains.Count == 0 && !connector.AllAcceptedDomains)
            {
                Warning($"{path}.recipientDomains", "empty and allAcceptedDomains is false: the connector applies to no recipient");
            }
            if (connector.SmartHosts.Count > 0 && connector.UseMxRecord == true)
            {
                Error($"{path}.useMxRecord", "true together with smartHosts; use one or the other");
            }
            if (connector.SmartHosts.Count == 0 && connector.UseMxRecord == false)
            {
                Error($"{path}.smartHosts", "empty while useMxRecord is false: the connector has nowhere to deliver");
            }
            for (var i = 0; i < connector.SmartHosts.Count; i++)
            {
                if (ConfigurationSyntax.DescribeHostAndPort(connector.SmartHosts[i], portRequired: false, allowBareIPv6: false, out _, out _) is { } problem)
                {
                    Error($"{path}.smartHosts[{i}]", $"{problem}; expected \"host\", \"host:port\" or \"[ip]:port\"");
                }
            }
            if (connector.TlsDomain is not null)
            {
                if (connector.TlsSettings != TlsLevel.DomainValidation)
                {
                    Error($"{path}.tlsDomain", $"only allowed with tlsSettings DomainValidation (is {connector.TlsSettings})");
                }
                if (ConfigurationSyntax.DescribeDomainPattern(connector.TlsDomain, allowAny: false) is { } problem)
                {
                    Error($"{path}.tlsDomain", $"\"{connector.TlsDomain}\" is not a name or \"*.domain\": {problem}");
                }
            }
            for (var i = 0; i < connector.CertificateFingerprints.Count; i++)
            {
                var fingerprint = connector.CertificateFingerprints[i];
                if (!ConfigurationSyntax.TryParseSha256Fingerprint(fingerprint, out _))
                {
                    Error($"{path}.certificateFingerprints[{i}]", $"\"{fingerprint}\" is not a SHA-256 fingerprint (64 hexadecimal digits, colons allowed)");
                }
            }
            for (var i = 0; i < connector.TrustedRoots.Count; i++)
            {
                File(connector.TrustedRoots[i], $"{path}.trustedRoots[{i}]");
            }
            if (connector.ClientCertificate is { } clientCertificate)
            {
                Certificate(clientCertificate, $"{path}.clientCertificate");
            }
        }
    }
}
