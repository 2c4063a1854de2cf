using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Postern.Configuration;
using Postern.Hosting;
using Postern.Probing;
using Postern.Smtp;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>What to validate: a connector by name, optionally with a test message.</summary>
public sealed record ConnectorValidationOptions
{
    /// <summary>The outbound connector's name (case-insensitive).</summary>
    public required string Connector { get; init; }

    /// <summary>When set, a test message goes to this address, and for MX connectors its domain is the one resolved.</summary>
    public string? Recipient { get; init; }

    /// <summary>Bound of each step (DNS, connect, banner, EHLO, STARTTLS, each command).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>The outcome of <c>postern connector validate</c> (JSON schemaVersion 1, docs/connectors.md).</summary>
public sealed record ConnectorValidationReport
{
    public int SchemaVersion { get; init; } = 1;
    public required string Connector { get; init; }
    public string? Organization { get; init; }
    public required ConnectorValidationPolicy Policy { get; init; }
    public string? Recipient { get; init; }
    public required IReadOnlyList<HostValidation> Hosts { get; init; }
    /// <summary>Every host passed every step.</summary>
    public bool Passed { get; init; }
}

/// <summary>The connector's policy as applied.</summary>
/// <param name="Pins">How many certificate fingerprints are pinned.</param>
/// <param name="TrustedRoots">How many extra root bundles the connector adds to the gateway's trust.</param>
/// <param name="ClientCertificate">Subject of the client certificate presented when a server asks, or null.</param>
public sealed record ConnectorValidationPolicy(string TlsSettings, string? TlsDomain, int Pins, bool TestMode, int TrustedRoots, string? ClientCertificate);

/// <summary>One step of one host: resolve, connect, banner, ehlo, starttls, certificate, message.</summary>
public sealed record ValidationStep(string Name, bool Passed, string Detail);

/// <summary>The negotiated TLS session.</summary>
public sealed record ValidationTls(string Protocol, string Cipher);

/// <summary>The server's certificate and the chain as built under the connector's trust.</summary>
public sealed record ValidationCertificate(string Subject, IReadOnlyList<string> Names, string Issuer, DateTimeOffset NotAfter, int DaysLeft, string Sha256)
{
    /// <summary>The names the policy expected (tlsDomain, or the host name).</summary>
    public IReadOnlyList<string> ExpectedNames { get; init; } = [];
    /// <summary>The certificate name that matched an expected name, or null.</summary>
    public string? MatchedBy { get; init; }
    /// <summary>Subjects of the chain as built, leaf first.</summary>
    public IReadOnlyList<string> Chain { get; init; } = [];
    public bool ChainTrusted { get; init; }
    /// <summary>Why the chain is not trusted, or null.</summary>
    public string? ChainProblem { get; init; }
}

/// <summary>One target host and its steps.</summary>
public sealed record HostValidation
{
    public required string Host { get; init; }
    public int Port { get; init; }
    public IReadOnlyList<string> Addresses { get; init; } = [];
    public required IReadOnlyList<ValidationStep> Steps { get; init; }
    public ValidationTls? Tls { get; init; }
    public ValidationCertificate? Certificate { get; init; }
    /// <summary>"pass", or "fail" with the failed step's detail in <see cref="Reason"/>.</summary>
    public required string Verdict { get; init; }
    public string? Reason { get; init; }
}

/// <summary>Source-generated JSON for <see cref="ConnectorValidationReport"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ConnectorValidationReport))]
public sealed partial class ConnectorValidationJsonContext : JsonSerializerContext
{
    /// <summary>As <see cref="Default"/>, without escaping quotes, '&lt;', '+' and non-ASCII text: read by people and programs, never embedded in HTML.</summary>
    public static ConnectorValidationJsonContext Readable => s_readable ??= new(new JsonSerializerOptions(Default!.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    // Lazy: static initializers of the generated half of this class may run after ours.
    private static ConnectorValidationJsonContext? s_readable;
}

/// <summary>A configuration problem that stops validation before any connection (exit 2).</summary>
public sealed class ConnectorValidationException(string message) : Exception(message);

/// <summary>
/// Runs an outbound connector's exact policy against its targets now, as delivery would apply it
/// (<see cref="DeliveryAgent"/>'s TLS options, expected name, verdict and pins; the gateway's trust
/// plus the connector's roots; the client certificate the gateway would present), step by step.
/// Reads the configuration only; the gateway need not run.
/// </summary>
public sealed class ConnectorValidator
{
    private const string TestSubject = "Postern connector validation test";
    private readonly PosternConfiguration _configuration;
    private readonly string _hostName;

    public ConnectorValidator(PosternConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        _configuration = configuration;
        _hostName = PosternGateway.HostNameOf(configuration);
    }

    /// <summary>The outbound connectors' names, in configuration order.</summary>
    public IReadOnlyList<string> ConnectorNames =>
        [.. _configuration.Organizations.SelectMany(o => o.OutboundConnectors).Select(c => c.Name)];

    /// <summary>Validates one connector. Throws <see cref="ConnectorValidationException"/> for an unknown name or an unusable configuration.</summary>
    public async Task<ConnectorValidationReport> ValidateAsync(ConnectorValidationOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        (OrganizationSettings organization, OutboundConnectorSettings connector) = Find(options.Connector);
        string? recipientDomain = null;
        if (options.Recipient is { } recipient)
        {
            recipientDomain = SmtpPathParser.DomainOf(recipient)?.TrimEnd('.').ToLowerInvariant();
            if (string.IsNullOrEmpty(recipientDomain) || recipient.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>'))
                throw new ConnectorValidationException($"--recipient '{recipient}' is not an address local@domain");
        }

        bool mx = connector.UseMxRecord == true || connector.SmartHosts.Count == 0;
        var route = new DeliveryRoute
        {
            Connector = connector.Name,
            Organization = organization.Name,
            Domain = recipientDomain ?? "",
            TlsLevel = connector.TlsSettings,
            TlsDomain = connector.TlsDomain,
            SmartHosts = mx ? [] : connector.SmartHosts,
            CertificateFingerprints = connector.CertificateFingerprints,
            TrustedRoots = connector.TrustedRoots,
            ClientCertificate = connector.ClientCertificate,
            TestMode = connector.TestMode,
        };

        TrustPolicy trust;
        SslStreamCertificateContext? client;
        ServerCertificateStore? store = null;
        try
        {
            trust = TrustFor(route);
            (client, store) = ClientCertificateFor(route);
        }
        catch (Exception e) when (e is CertificateLoadException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new ConnectorValidationException($"connector \"{connector.Name}\": {e.Message}");
        }

        try
        {
            var policy = new ConnectorValidationPolicy(connector.TlsSettings.ToString(), connector.TlsDomain, connector.CertificateFingerprints.Count,
                connector.TestMode, connector.TrustedRoots.Count, client?.TargetCertificate.Subject);
            var hosts = new List<HostValidation>();
            var resolver = new MxResolver(_configuration.Gateway.Dns with { TimeoutSeconds = Math.Max(1, (int)Math.Ceiling(options.Timeout.TotalSeconds)) });
            var limits = SmtpClientLimits.WithTimeout(options.Timeout);

            if (mx)
            {
                IReadOnlyList<string> domains = recipientDomain is not null ? [recipientDomain] : MxDomains(organization, connector);
                if (domains.Count == 0)
                    throw new ConnectorValidationException($"connector \"{connector.Name}\" uses MX records but names no recipient domain to resolve; give --recipient");
                foreach (string domain in domains)
                {
                    MxResolution resolution = await ResolveAsync(() => resolver.ResolveAsync(domain, cancellationToken), options.Timeout, cancellationToken).ConfigureAwait(false);
                    if (!resolution.IsSuccess)
                    {
                        hosts.Add(Failed(domain, 25, [], new ValidationStep("resolve", false, $"MX of {domain}: {resolution.Error}")));
                        continue;
                    }
                    foreach (MxHost host in resolution.Hosts)
                    {
                        string how = host.IsImplicit ? $"{domain} has no MX: implicit MX {host.Name}" : $"MX {host.Preference} {host.Name} for {domain}";
                        hosts.Add(await ValidateHostAsync(route, host, how, trust, client, limits, options.Recipient, cancellationToken).ConfigureAwait(false));
                    }
                }
            }
            else
            {
                foreach (string smartHost in connector.SmartHosts)
                {
                    MxResolution resolution = await ResolveAsync(() => resolver.ResolveHostAsync(smartHost, cancellationToken), options.Timeout, cancellationToken).ConfigureAwait(false);
                    if (!resolution.IsSuccess)
                    {
                        hosts.Add(Failed(smartHost, 25, [], new ValidationStep("resolve", false, $"smart host {smartHost}: {resolution.Error}")));
                        continue;
                    }
                    foreach (MxHost host in resolution.Hosts)
                        hosts.Add(await ValidateHostAsync(route, host, $"smart host {smartHost}", trust, client, limits, options.Recipient, cancellationToken).ConfigureAwait(false));
                }
            }

            return new ConnectorValidationReport
            {
                Connector = connector.Name,
                Organization = organization.Name,
                Policy = policy,
                Recipient = options.Recipient,
                Hosts = hosts,
                Passed = hosts.Count > 0 && hosts.All(h => h.Verdict == "pass"),
            };
        }
        finally
        {
            store?.Dispose();
        }
    }

    private (OrganizationSettings, OutboundConnectorSettings) Find(string name)
    {
        foreach (OrganizationSettings organization in _configuration.Organizations)
        {
            foreach (OutboundConnectorSettings connector in organization.OutboundConnectors)
            {
                if (string.Equals(connector.Name, name.Trim(), StringComparison.OrdinalIgnoreCase)) return (organization, connector);
            }
        }
        IReadOnlyList<string> names = ConnectorNames;
        throw new ConnectorValidationException(names.Count == 0
            ? $"no outbound connector named \"{name}\": the configuration has no outbound connectors"
            : $"no outbound connector named \"{name}\"; the outbound connectors are: {string.Join(", ", names.Select(n => $"\"{n}\""))}");
    }

    /// <summary>The recipient domains to resolve: "*.x" is x; allAcceptedDomains adds the organization's accepted domains.</summary>
    private static IReadOnlyList<string> MxDomains(OrganizationSettings organization, OutboundConnectorSettings connector)
    {
        var domains = new List<string>();
        IEnumerable<string> all = connector.RecipientDomains;
        if (connector.AllAcceptedDomains) all = all.Concat(organization.AcceptedDomains);
        foreach (string raw in all)
        {
            string d = raw.Trim().TrimEnd('.').ToLowerInvariant();
            if (d.StartsWith("*.", StringComparison.Ordinal)) d = d[2..];
            if (d.Length == 0 || d == "*" || domains.Contains(d)) continue;
            domains.Add(d);
        }
        return domains;
    }

    private static async Task<MxResolution> ResolveAsync(Func<Task<MxResolution>> resolve, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task<MxResolution> lookup = resolve();
        Task finished = await Task.WhenAny(lookup, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (finished == lookup) return await lookup.ConfigureAwait(false);
        return MxResolution.Transient(MxResolver.TemporaryFailureStatus, $"DNS lookup timed out after {timeout.TotalSeconds:0.#} s");
    }

    /// <summary>As the gateway's trust for an attempt.</summary>
    private TrustPolicy TrustFor(DeliveryRoute route)
    {
        TrustSettings trust = _configuration.Gateway.Trust;
        return OutboundCredentials.Trust(trust, TrustPolicy.Load(trust.UseSystemStore, trust.AdditionalRoots), route);
    }

    /// <summary>As the gateway's client certificate for an attempt: the connector's own, else the organization's, else the gateway's default.</summary>
    private (SslStreamCertificateContext?, ServerCertificateStore?) ClientCertificateFor(DeliveryRoute route)
    {
        if (OutboundCredentials.ConnectorCertificate(route) is { } source) return (CertificateLoader.Load(source).Context, null);
        List<CertificateSource> sources = PosternGateway.CertificateSources(_configuration);
        if (_configuration.Gateway.Certificates.Count == 0)
        {
            // As the gateway: without gateway certificates, the self-signed one it generated is the default (never created here).
            string directory = Path.Combine(Path.GetFullPath(_configuration.Gateway.DataDirectory), "tls");
            string certificate = Path.Combine(directory, SelfSignedCertificate.CertificateFileName);
            string key = Path.Combine(directory, SelfSignedCertificate.KeyFileName);
            if (File.Exists(certificate) && File.Exists(key)) sources.Insert(0, new CertificateSource(certificate, key, null, "gateway", "self-signed"));
        }
        if (sources.Count == 0) return (null, null);
        ServerCertificateStore store = ServerCertificateStore.Load(sources);
        return (OutboundCredentials.FromStore(route, store), store);
    }

    private async Task<HostValidation> ValidateHostAsync(DeliveryRoute route, MxHost host, string how, TrustPolicy trust, SslStreamCertificateContext? client,
        SmtpClientLimits limits, string? recipient, CancellationToken cancellationToken)
    {
        int port = host.Port ?? 25;
        string[] addresses = [.. host.Addresses.Select(a => a.ToString())];
        var steps = new List<ValidationStep> { new("resolve", true, $"{how}: {string.Join(", ", addresses)}") };
        ValidationTls? tlsReport = null;
        ValidationCertificate? certificateReport = null;
        string policyName = DeliveryAgent.Policy(route);
        bool required = route.TlsLevel >= TlsLevel.EncryptionOnly;
        string testModeNote = route.TestMode ? " (testMode: delivery would still proceed opportunistically)" : "";

        SmtpClientConnection? connection = null;
        string stage = "connect";
        try
        {
            var failures = new List<string>();
            foreach (IPAddress address in host.Addresses)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    connection = await SmtpClientConnection.ConnectAsync(new IPEndPoint(address, port), limits, null, cancellationToken).ConfigureAwait(false);
                    steps.Add(new("connect", true, $"{Endpoint(address, port)} in {clock.ElapsedMilliseconds} ms"));
                    break;
                }
                catch (SmtpClientException e)
                {
                    failures.Add($"{Endpoint(address, port)}: {e.Message}");
                }
            }
            if (connection is null)
            {
                steps.Add(new("connect", false, string.Join("; ", failures)));
                return Finish(host, port, addresses, steps, null, null);
            }

            stage = "banner";
            SmtpReply banner = await connection.ReadBannerAsync(cancellationToken).ConfigureAwait(false);
            steps.Add(new("banner", banner.IsPositive, banner.ToString()));
            if (!banner.IsPositive) return await LeaveAsync();

            stage = "ehlo";
            SmtpReply hello = await connection.HelloAsync(_hostName, cancellationToken).ConfigureAwait(false);
            string offered = connection.Capabilities.Keywords.Count == 0 ? "no extensions" : string.Join(" ", connection.Capabilities.Keywords);
            steps.Add(new("ehlo", hello.IsPositive, hello.IsPositive ? $"EHLO {_hostName}: {hello.Code} {connection.Capabilities.Greeting}; offers {offered}" : $"EHLO {_hostName}: {hello}"));
            if (!hello.IsPositive) return await LeaveAsync();

            stage = "starttls";
            TlsHandshakeResult? tls = null;
            if (route.TlsLevel == TlsLevel.None)
            {
                steps.Add(new("starttls", true, $"not attempted: TLS disabled by {policyName}"));
            }
            else if (!connection.Capabilities.StartTls)
            {
                bool passed = !required;
                steps.Add(new("starttls", passed, passed
                    ? $"not offered: plain text allowed by {policyName}"
                    : $"not offered: TLS is required by {policyName} but {host.Name} did not offer STARTTLS{testModeNote}"));
                if (!passed) return await LeaveAsync();
            }
            else
            {
                SmtpReply started;
                try
                {
                    started = await connection.StartTlsAsync(DeliveryAgent.TlsOptions(host, client), cancellationToken).ConfigureAwait(false);
                }
                catch (SmtpClientException e) when (e.Stage == SmtpClientStage.TlsHandshake)
                {
                    // As delivery: no plaintext retry after a failed handshake, whatever the level.
                    steps.Add(new("starttls", false, $"offered; {e.Message} ({policyName})"));
                    connection = await DropAsync(connection);
                    return Finish(host, port, addresses, steps, null, null);
                }
                if (!started.IsPositive || connection.Tls is null)
                {
                    bool passed = !required;
                    steps.Add(new("starttls", passed, passed
                        ? $"refused ({started}): plain text allowed by {policyName}"
                        : $"TLS is required by {policyName} but {host.Name} refused STARTTLS: {started}{testModeNote}"));
                    if (!passed) return await LeaveAsync();
                }
                else
                {
                    tls = connection.Tls;
                    tlsReport = new ValidationTls(tls.Facts.Protocol, tls.Facts.CipherSuite);
                    string sni = DeliveryAgent.TlsOptions(host, client).ServerName is { } name ? $"SNI {name}" : "no SNI";
                    string presented = client is null ? "no client certificate" : $"client certificate {client.TargetCertificate.Subject} when asked";
                    steps.Add(new("starttls", true, $"offered; {tls.Facts.Protocol} {tls.Facts.CipherSuite}; {sni}; {presented}"));

                    stage = "certificate";
                    (TlsPolicyVerdict verdict, string? problem) = DeliveryAgent.CheckCertificate(route, host, tls, trust);
                    certificateReport = Describe(tls, trust, route, host, verdict);
                    steps.Add(CertificateStep(route, policyName, certificateReport, problem, testModeNote));
                    if (problem is not null) return await LeaveAsync();

                    // RFC 3207 4.2: EHLO again on the secured session.
                    stage = "ehlo";
                    SmtpReply secured = await connection.HelloAsync(_hostName, cancellationToken).ConfigureAwait(false);
                    if (!secured.IsPositive)
                    {
                        steps.Add(new("ehlo", false, $"EHLO after STARTTLS: {secured}"));
                        return await LeaveAsync();
                    }
                }
            }

            if (tls is null)
            {
                steps.Add(new("certificate", !required, required
                    ? $"no TLS session: {policyName} cannot be met{testModeNote}"
                    : $"not checked: no TLS session, which {policyName} allows"));
            }

            if (recipient is not null)
            {
                stage = "message";
                steps.Add(await SendTestMessageAsync(connection, route, host, recipient, tls, cancellationToken).ConfigureAwait(false));
            }
            return await LeaveAsync();
        }
        catch (SmtpClientException e)
        {
            steps.Add(new(stage, false, e.Message));
            connection = await DropAsync(connection);
            return Finish(host, port, addresses, steps, tlsReport, certificateReport);
        }
        catch (SmtpProtocolException e)
        {
            steps.Add(new(stage, false, $"protocol error: {e.Message}"));
            connection = await DropAsync(connection);
            return Finish(host, port, addresses, steps, tlsReport, certificateReport);
        }
        finally
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
        }

        async Task<HostValidation> LeaveAsync()
        {
            try
            {
                if (connection is not null && connection.State != SmtpClientState.Closed) await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SmtpClientException or SmtpProtocolException)
            {
                // The verdict is made; a rude close after it changes nothing.
            }
            return Finish(host, port, addresses, steps, tlsReport, certificateReport);
        }
    }

    private static async Task<SmtpClientConnection?> DropAsync(SmtpClientConnection? connection)
    {
        if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
        return null;
    }

    private static string Endpoint(IPAddress address, int port) => new IPEndPoint(address, port).ToString();

    private static HostValidation Finish(MxHost host, int port, string[] addresses, List<ValidationStep> steps, ValidationTls? tls, ValidationCertificate? certificate) =>
        Finish(host.Name, port, addresses, steps, tls, certificate);

    private static HostValidation Failed(string host, int port, string[] addresses, ValidationStep step) =>
        Finish(host, port, addresses, [step], null, null);

    private static HostValidation Finish(string host, int port, string[] addresses, List<ValidationStep> steps, ValidationTls? tls, ValidationCertificate? certificate)
    {
        ValidationStep? failed = steps.FirstOrDefault(s => !s.Passed);
        return new HostValidation
        {
            Host = host,
            Port = port,
            Addresses = addresses,
            Steps = steps,
            Tls = tls,
            Certificate = certificate,
            Verdict = failed is null ? "pass" : "fail",
            Reason = failed is null ? null : $"{failed.Name}: {failed.Detail}",
        };
    }

    private static ValidationCertificate? Describe(TlsHandshakeResult tls, TrustPolicy trust, DeliveryRoute route, MxHost host, TlsPolicyVerdict verdict)
    {
        if (tls.Leaf is not { } leaf) return null;
        CertificateReport details = CertificateInspector.Describe(leaf, 0, DateTimeOffset.UtcNow, TimeSpan.FromDays(30));
        ChainVerdict chain = new TlsPolicyEvaluator(trust).VerifyChain(tls);
        string expected = DeliveryAgent.ExpectedName(route, host);
        string? matchedBy = verdict.Names.FirstOrDefault(n => n.Matched)?.MatchedBy
            ?? TlsPolicyEvaluator.MatchName(CertificateNames.GetDnsNames(leaf), expected).MatchedBy;
        return new ValidationCertificate(details.Subject, CertificateNames.GetDnsNames(leaf), details.Issuer, details.NotAfter, details.DaysLeft, details.Sha256)
        {
            ExpectedNames = [expected],
            MatchedBy = matchedBy,
            Chain = chain.ChainSubjects.Count > 0 ? chain.ChainSubjects : [.. tls.Presented.Select(c => c.Subject)],
            ChainTrusted = chain.IsTrusted,
            ChainProblem = chain.Problem,
        };
    }

    private static ValidationStep CertificateStep(DeliveryRoute route, string policyName, ValidationCertificate? certificate, string? problem, string testModeNote)
    {
        if (problem is not null) return new("certificate", false, $"{problem} ({policyName}){testModeNote}");
        if (certificate is null) return new("certificate", true, $"no certificate presented; {policyName} does not check it");
        string days = certificate.DaysLeft >= 0 ? $"expires in {certificate.DaysLeft} days" : $"expired {-certificate.DaysLeft} days ago";
        string checkedWhat = route.TlsLevel switch
        {
            TlsLevel.DomainValidation => $"trusted chain, in date, name {certificate.ExpectedNames[0]} matched by {certificate.MatchedBy}",
            TlsLevel.CertificateValidation => "trusted chain, in date",
            _ => $"not checked by {route.TlsLevel}",
        };
        string pins = route.CertificateFingerprints.Count > 0 && route.TlsLevel >= TlsLevel.EncryptionOnly ? "; fingerprint pinned" : "";
        return new("certificate", true, $"{checkedWhat}{pins}; {days}");
    }

    private async Task<ValidationStep> SendTestMessageAsync(SmtpClientConnection connection, DeliveryRoute route, MxHost host, string recipient,
        TlsHandshakeResult? tls, CancellationToken cancellationToken)
    {
        SmtpReply mail = await connection.SendCommandAsync("MAIL FROM:<>", cancellationToken).ConfigureAwait(false);
        if (!mail.IsPositive) return new("message", false, $"MAIL FROM:<> {mail}");
        SmtpReply rcpt = await connection.SendCommandAsync($"RCPT TO:<{recipient}>", cancellationToken).ConfigureAwait(false);
        if (!rcpt.IsPositive)
        {
            await connection.SendCommandAsync("RSET", cancellationToken).ConfigureAwait(false);
            return new("message", false, $"RCPT TO:<{recipient}> {rcpt}");
        }
        SmtpReply data = await connection.SendCommandAsync("DATA", cancellationToken).ConfigureAwait(false);
        if (data.Code != 354) return new("message", false, $"DATA {data}");
        byte[] content = Encoding.ASCII.GetBytes(TestMessage(route, host, connection.RemoteEndPoint, recipient, tls));
        using var stream = new MemoryStream(content);
        SmtpReply final = await connection.SendDataContentAsync(stream, cancellationToken).ConfigureAwait(false);
        return new("message", final.IsPositive, $"to <{recipient}>: {final}");
    }

    private string TestMessage(DeliveryRoute route, MxHost host, IPEndPoint remote, string recipient, TlsHandshakeResult? tls)
    {
        string connector = Ascii(route.Connector ?? "");
        string tlsLine = tls is null ? "none" : $"{tls.Facts.Protocol} {tls.Facts.CipherSuite}";
        return string.Join("\r\n",
            $"From: Postern <postmaster@{_hostName}>",
            $"To: <{recipient}>",
            $"Subject: {TestSubject}: connector \"{connector}\"",
            $"Date: {DateTimeOffset.UtcNow.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture)}",
            $"Message-ID: <{Guid.NewGuid():N}.validate@{_hostName}>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
            "Auto-Submitted: auto-generated",
            "",
            TestSubject,
            "",
            $"Connector: {connector} ({route.TlsLevel})",
            $"Host: {host.Name} [{remote.Address}]:{remote.Port}",
            $"TLS: {tlsLine}",
            $"Sent by: {_hostName}",
            "");
    }

    private static string Ascii(string text) => new([.. text.Select(c => c is >= ' ' and <= '~' ? c : '?')]);
}
