using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Smtp;
using Postern.Tls;

namespace Postern.Probing;

/// <summary>
/// <c>postern probe</c>: connects to each mail host of a target as the delivery engine would, and
/// reports what it offered, the TLS session, the certificates as presented and built, which names
/// match, and what every TLS level would decide. Hosts are probed concurrently; each step is bounded
/// by the timeout, and one host's failure never hides another's result.
/// </summary>
public sealed class SmtpProbe
{
    private readonly ProbeOptions _options;
    private readonly TlsPolicyEvaluator _evaluator;
    private readonly SmtpClientLimits _limits;
    private readonly TimeProvider _time;

    /// <summary>Creates a probe.</summary>
    public SmtpProbe(ProbeOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _evaluator = new TlsPolicyEvaluator(options.Trust);
        _limits = SmtpClientLimits.WithTimeout(options.Timeout);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Runs the probe. Never throws for anything a server or DNS does.</summary>
    public async Task<ProbeReport> RunAsync(CancellationToken cancellationToken = default)
    {
        var started = _time.GetUtcNow();
        var target = _options.Target;
        var lookup = new MxLookup(_options.DnsServer, _options.Timeout);
        DnsReport? dns = null;
        IReadOnlyList<MailHost> hosts;
        if (target.IsDomain)
        {
            try
            {
                var (found, records, implicitMx) = await lookup.MailHostsAsync(target.Name, cancellationToken).ConfigureAwait(false);
                hosts = found;
                dns = new DnsReport { Server = _options.DnsServer?.ToString(), Mx = records, ImplicitMx = implicitMx };
            }
            catch (DnsLookupException e)
            {
                dns = new DnsReport { Server = _options.DnsServer?.ToString(), Mx = [], Error = e.Message };
                return Finish(started, dns, []);
            }
        }
        else
        {
            hosts = [new MailHost(target.Name, null)];
        }

        var reports = await Task.WhenAll(hosts.Select(h => ProbeHostAsync(h, lookup, cancellationToken))).ConfigureAwait(false);
        return Finish(started, dns, reports);
    }

    private ProbeReport Finish(DateTimeOffset started, DnsReport? dns, IReadOnlyList<HostReport> hosts)
    {
        var exit = dns?.Error is not null || hosts.Count == 0 || hosts.Any(h => h.Status == "error") ? 2
            : hosts.Any(h => h.Status == "policyFailed") ? 1
            : 0;
        return new ProbeReport
        {
            Target = _options.Target.ToString(),
            TargetKind = _options.Target.IsDomain ? "domain" : "host",
            StartedAt = started,
            ImplicitTls = _options.ImplicitTls,
            ExpectedNames = _options.ExpectedNames,
            Dns = dns,
            Hosts = hosts,
            ExitCode = exit,
            Outcome = exit switch { 0 => "pass", 1 => "policyFailed", _ => "error" },
        };
    }

    private async Task<HostReport> ProbeHostAsync(MailHost host, MxLookup lookup, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var session = new HostSession(host, _options.Target.Port);
        try
        {
            await RunSessionAsync(session, lookup, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsLookupException e)
        {
            session.Error = new ErrorReport("dns", e.Message);
        }
        catch (SmtpClientException e)
        {
            session.Error = new ErrorReport(StageName(e.Stage), e.Message, e.IsTimeout);
            if (e.Stage == SmtpClientStage.TlsHandshake)
            {
                session.StartTls = (session.StartTls ?? new StartTlsReport { Outcome = "failed" }) with { Outcome = "failed", Error = e.Message };
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever else a server manages to provoke is that host's result, not the end of the probe.
            session.Error = new ErrorReport("internal", $"{e.GetType().Name}: {e.Message}");
        }

        return Report(session, watch.ElapsedMilliseconds);
    }

    private async Task RunSessionAsync(HostSession session, MxLookup lookup, CancellationToken cancellationToken)
    {
        IReadOnlyList<IPAddress> addresses = _options.Target.Address is { } literal
            ? [literal]
            : await lookup.AddressesAsync(session.Host.Name, cancellationToken).ConfigureAwait(false);
        if (addresses.Count == 0)
        {
            throw new DnsLookupException($"{session.Host.Name} has no IPv4 or IPv6 address");
        }

        SmtpClientConnection? connection = null;
        for (var i = 0; i < addresses.Count && connection is null; i++)
        {
            try
            {
                connection = await SmtpClientConnection.ConnectAsync(new IPEndPoint(addresses[i], session.Port), _limits, null, cancellationToken).ConfigureAwait(false);
                session.Addresses.Add(new AddressReport(addresses[i].ToString(), "connected"));
                session.Address = addresses[i];
            }
            catch (SmtpClientException e)
            {
                session.Addresses.Add(new AddressReport(addresses[i].ToString(), "failed", e.Message));
                if (i == addresses.Count - 1)
                {
                    foreach (var untried in addresses.Skip(i + 1))
                    {
                        session.Addresses.Add(new AddressReport(untried.ToString(), "notTried"));
                    }

                    throw;
                }
            }
        }

        await using (connection!.ConfigureAwait(false))
        {
            await ConverseAsync(session, connection!, cancellationToken).ConfigureAwait(false);
        }

        if (session.Tls is not null && _options.ScanVersions)
        {
            session.Versions = await ScanVersionsAsync(session, cancellationToken).ConfigureAwait(false);
        }

        if (session.Tls is not null && _options.ScanCipherSuites)
        {
            session.CipherSuites = await ScanCipherSuitesAsync(session, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ConverseAsync(HostSession session, SmtpClientConnection connection, CancellationToken cancellationToken)
    {
        var tlsOptions = TlsOptions(session.Host.Name, SslProtocols.None, null);
        if (_options.ImplicitTls)
        {
            session.Tls = await connection.AuthenticateImplicitTlsAsync(tlsOptions, cancellationToken).ConfigureAwait(false);
            session.StartTls = new StartTlsReport { Outcome = "implicit" };
        }

        var banner = await connection.ReadBannerAsync(cancellationToken).ConfigureAwait(false);
        session.Banner = Reply(banner);
        if (banner.Code != 220)
        {
            session.Error = new ErrorReport("banner", $"the server refused the session: {banner}");
            await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        var hello = await connection.HelloAsync(_options.ClientName, cancellationToken).ConfigureAwait(false);
        var helloReport = Hello(connection, hello);
        if (_options.ImplicitTls)
        {
            session.HelloAfterTls = helloReport;
        }
        else
        {
            session.Hello = helloReport;
        }

        if (hello.Code != 250)
        {
            session.Error = new ErrorReport("hello", $"the server refused EHLO and HELO: {hello}");
            await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!_options.ImplicitTls)
        {
            var offered = connection.Capabilities.StartTls;
            if (!offered)
            {
                session.StartTls = new StartTlsReport { Outcome = "notOffered", Offered = false };
                session.NoTlsReason = connection.UsedHelo ? "STARTTLS not offered (the server answered only HELO)" : "STARTTLS not offered";
                await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                return;
            }

            var reply = await connection.StartTlsAsync(tlsOptions, cancellationToken).ConfigureAwait(false);
            if (connection.Tls is null)
            {
                session.StartTls = new StartTlsReport { Outcome = "refused", Offered = true, Reply = Reply(reply), Error = $"STARTTLS refused: {reply}" };
                session.NoTlsReason = $"STARTTLS refused: {reply}";
                await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                return;
            }

            session.Tls = connection.Tls;
            session.StartTls = new StartTlsReport
            {
                Outcome = "established",
                Offered = true,
                Reply = Reply(reply),
                DiscardedBytes = connection.Tls.DiscardedBytesAfterStartTls,
            };
            if (connection.Tls.DiscardedBytesAfterStartTls > 0)
            {
                session.Warnings.Add($"the server sent {connection.Tls.DiscardedBytesAfterStartTls} bytes after its 220 to STARTTLS, before the handshake; they were discarded (STARTTLS injection, CVE-2011-0411 class)");
            }

            var again = await connection.HelloAsync(_options.ClientName, cancellationToken).ConfigureAwait(false);
            session.HelloAfterTls = Hello(connection, again);
        }

        await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
    }

    private SmtpTlsClientOptions TlsOptions(string host, SslProtocols protocols, CipherSuitesPolicy? suites) => new()
    {
        ServerName = _options.NoServerName ? null : _options.ServerName ?? (IPAddress.TryParse(host, out _) ? null : host),
        Protocols = protocols,
        CipherSuites = suites,
        ClientCertificate = _options.ClientCertificate,
    };

    /// <summary>One more connection with restricted TLS settings: the negotiated suite, or why it failed.</summary>
    private async Task<(TlsHandshakeResult? Tls, SmtpClientException? Error)> TryHandshakeAsync(HostSession session, SslProtocols protocols, CipherSuitesPolicy? suites, CancellationToken cancellationToken)
    {
        try
        {
            var connection = await SmtpClientConnection.ConnectAsync(new IPEndPoint(session.Address!, session.Port), _limits, null, cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var options = TlsOptions(session.Host.Name, protocols, suites);
                if (_options.ImplicitTls)
                {
                    await connection.AuthenticateImplicitTlsAsync(options, cancellationToken).ConfigureAwait(false);
                    await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                    return (connection.Tls, null);
                }

                await connection.ReadBannerAsync(cancellationToken).ConfigureAwait(false);
                var hello = await connection.HelloAsync(_options.ClientName, cancellationToken).ConfigureAwait(false);
                if (hello.Code != 250)
                {
                    return (null, new SmtpClientException(SmtpClientStage.Hello, $"EHLO refused: {hello}"));
                }

                var reply = await connection.StartTlsAsync(options, cancellationToken).ConfigureAwait(false);
                if (connection.Tls is null)
                {
                    return (null, new SmtpClientException(SmtpClientStage.StartTls, $"STARTTLS refused: {reply}"));
                }

                await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                return (connection.Tls, null);
            }
        }
        catch (SmtpClientException e)
        {
            return (null, e);
        }
        catch (PlatformNotSupportedException e)
        {
            return (null, new SmtpClientException(SmtpClientStage.TlsHandshake, e.Message) { IsLocalRefusal = true });
        }
    }

    private async Task<IReadOnlyList<VersionReport>> ScanVersionsAsync(HostSession session, CancellationToken cancellationToken)
    {
#pragma warning disable SYSLIB0039 // TLS 1.0 and 1.1 are offered only to see whether the server still accepts them.
        SslProtocols[] versions = [SslProtocols.Tls, SslProtocols.Tls11, SslProtocols.Tls12, SslProtocols.Tls13];
#pragma warning restore SYSLIB0039
        var results = new List<VersionReport>();
        foreach (var version in versions)
        {
            var name = TlsSessionFacts.ProtocolName(version);
            var (tls, error) = await TryHandshakeAsync(session, version, null, cancellationToken).ConfigureAwait(false);
            results.Add(tls is not null
                ? new VersionReport(name, "accepted", tls.Facts.CipherSuite, null)
                : error!.IsLocalRefusal
                    ? new VersionReport(name, "notTestableHere", null, $"this machine's TLS library would not offer {name} ({error.Message})")
                    : error.Stage == SmtpClientStage.TlsHandshake
                        ? new VersionReport(name, "rejected", null, error.Message)
                        : new VersionReport(name, "error", null, error.Message));
        }

        return results;
    }

    private async Task<CipherScanReport> ScanCipherSuitesAsync(HostSession session, CancellationToken cancellationToken)
    {
        var leafKey = session.Tls?.Leaf is { } leaf ? CertificateInspector.Describe(leaf, 0, _time.GetUtcNow(), TimeSpan.Zero).KeyType : null;
        var attempts = CipherSuiteNames.Tls13.Select(s => (Protocol: SslProtocols.Tls13, Suite: s))
            .Concat(CipherSuiteNames.Tls12For(leafKey).Select(s => (Protocol: SslProtocols.Tls12, Suite: s)))
            .ToList();
        var accepted = new List<AcceptedSuiteReport>();
        var notTestable = new List<string>();
        var tried = 0;
        foreach (var (protocol, suite) in attempts)
        {
            tried++;
            CipherSuitesPolicy policy;
            try
            {
                policy = new CipherSuitesPolicy([suite]);
            }
            catch (PlatformNotSupportedException e)
            {
                return new CipherScanReport(0, [], [], $"this platform cannot choose cipher suites: {e.Message}");
            }

            var (tls, error) = await TryHandshakeAsync(session, protocol, policy, cancellationToken).ConfigureAwait(false);
            if (tls is not null)
            {
                accepted.Add(new AcceptedSuiteReport(TlsSessionFacts.ProtocolName(protocol), tls.Facts.CipherSuite));
            }
            else if (error!.IsLocalRefusal)
            {
                notTestable.Add(suite.ToString());
            }
            else if (error.Stage != SmtpClientStage.TlsHandshake)
            {
                return new CipherScanReport(tried, accepted, notTestable, error.Message);
            }
        }

        return new CipherScanReport(tried, accepted, notTestable, null);
    }

    private HostReport Report(HostSession session, long elapsed)
    {
        var now = _time.GetUtcNow();
        var presented = session.Tls?.Presented.Select((c, i) => CertificateInspector.Describe(c, i, now, _options.ExpiryWarning)).ToList() ?? [];
        foreach (var certificate in presented.Where(c => c.ExpiresSoon))
        {
            session.Warnings.Add($"certificate [{certificate.Position}] \"{certificate.Subject}\" expires in {certificate.DaysLeft} days ({certificate.NotAfter:yyyy-MM-dd})");
        }

        ChainReport? built = null;
        if (session.Tls is not null)
        {
            var chain = _evaluator.VerifyChain(session.Tls, now.UtcDateTime);
            built = new ChainReport(chain.IsTrusted, chain.Problem, chain.ChainSubjects);
        }

        var names = NamesToCheck(session.Host);
        var certificateNames = session.Tls?.Leaf is { } leaf ? CertificateNames.GetDnsNames(leaf) : [];
        var nameReports = session.Tls?.Leaf is null
            ? []
            : names.Select(n => new NameReport(n.Name, n.Source, TlsPolicyEvaluator.MatchName(certificateNames, n.Name).MatchedBy)).ToList();

        var verdicts = new List<VerdictReport>();
        var tlsReached = session.Error is null || session.Tls is not null || session.Error.Stage == "tlsHandshake";
        if (tlsReached && (session.StartTls is not null || session.Tls is not null))
        {
            var noTls = session.NoTlsReason ?? session.StartTls?.Error;
            Add(TlsLevel.EncryptionOnly, null, isCheck: false);
            Add(TlsLevel.CertificateValidation, null, isCheck: true);
            var checkedNames = CheckedNames(session.Host);
            foreach (var (name, _) in names)
            {
                Add(TlsLevel.DomainValidation, name, isCheck: checkedNames.Contains(name, StringComparer.OrdinalIgnoreCase));
            }

            void Add(TlsLevel level, string? name, bool isCheck)
            {
                var verdict = _evaluator.Evaluate(level, session.Tls, noTls, name is null ? [] : [name], now.UtcDateTime);
                verdicts.Add(new VerdictReport(level.ToString(), name, verdict.Passed, verdict.Reason, isCheck));
            }
        }

        var status = session.Error is not null ? "error"
            : verdicts.Any(v => v.IsCheck && !v.Passed) ? "policyFailed"
            : "pass";
        var tls = session.Tls?.Facts is { } facts
            ? new TlsReport
            {
                Protocol = facts.Protocol,
                CipherSuite = facts.CipherSuite,
                CipherSuiteOpenSsl = CipherSuiteNames.OpenSslName(facts.CipherSuite),
                CipherBits = facts.CipherStrength,
                ServerName = facts.ServerName,
            }
            : null;
        return new HostReport
        {
            Host = session.Host.Name,
            Port = session.Port,
            MxPreference = session.Host.Preference,
            Addresses = session.Addresses,
            Banner = session.Banner,
            Hello = session.Hello,
            StartTls = session.StartTls,
            Tls = tls,
            HelloAfterTls = session.HelloAfterTls,
            PresentedChain = presented,
            BuiltChain = built,
            Names = nameReports,
            Verdicts = verdicts,
            Versions = session.Versions,
            CipherSuites = session.CipherSuites,
            Warnings = session.Warnings,
            Error = session.Error,
            Status = status,
            ElapsedMilliseconds = elapsed,
        };
    }

    /// <summary>The host name, the domain, the SNI and each --expect, without repeats.</summary>
    private List<(string Name, string Source)> NamesToCheck(MailHost host)
    {
        var names = new List<(string Name, string Source)>();
        void Add(string? name, string source)
        {
            if (name is not null && !IPAddress.TryParse(name, out _) && !names.Any(n => string.Equals(n.Name, name, StringComparison.OrdinalIgnoreCase)))
            {
                names.Add((name, source));
            }
        }

        Add(host.Name, "host");
        if (_options.Target.IsDomain)
        {
            Add(_options.Target.Name, "domain");
        }

        Add(_options.ServerName, "serverName");
        foreach (var expected in _options.ExpectedNames)
        {
            Add(expected, "expect");
        }

        return names;
    }

    /// <summary>The names whose DomainValidation decides the exit code: each --expect, else the SNI or the host name.</summary>
    private IReadOnlyList<string> CheckedNames(MailHost host)
    {
        if (_options.ExpectedNames.Count > 0)
        {
            return _options.ExpectedNames;
        }

        var name = _options.ServerName ?? host.Name;
        return IPAddress.TryParse(name, out _) ? [] : [name];
    }

    private static HelloReport Hello(SmtpClientConnection connection, SmtpReply reply)
    {
        var capabilities = reply.Code == 250 && !connection.UsedHelo ? SmtpCapabilities.Parse(reply) : SmtpCapabilities.None;
        return new HelloReport
        {
            Command = connection.UsedHelo ? "HELO" : "EHLO",
            Reply = Reply(reply),
            Extensions = capabilities.Lines,
            Pipelining = capabilities.Pipelining,
            StartTls = capabilities.StartTls,
            EightBitMime = capabilities.EightBitMime,
            SmtpUtf8 = capabilities.SmtpUtf8,
            Chunking = capabilities.Chunking,
            Dsn = capabilities.Dsn,
            EnhancedStatusCodes = capabilities.EnhancedStatusCodes,
            Size = capabilities.Size,
            SizeLimit = capabilities.MaximumMessageSize,
            Auth = capabilities.AuthMechanisms,
        };
    }

    private static ReplyReport Reply(SmtpReply reply) => new(reply.Code, reply.Status?.ToString(), reply.Lines);

    private static string StageName(SmtpClientStage stage) => stage switch
    {
        SmtpClientStage.Connect => "connect",
        SmtpClientStage.Banner => "banner",
        SmtpClientStage.Hello => "hello",
        SmtpClientStage.StartTls => "startTls",
        SmtpClientStage.TlsHandshake => "tlsHandshake",
        SmtpClientStage.Quit => "quit",
        _ => "command",
    };

    /// <summary>What one host's conversation has found so far.</summary>
    private sealed class HostSession(MailHost host, int port)
    {
        public MailHost Host { get; } = host;

        public int Port { get; } = port;

        public IPAddress? Address { get; set; }

        public List<AddressReport> Addresses { get; } = [];

        public ReplyReport? Banner { get; set; }

        public HelloReport? Hello { get; set; }

        public HelloReport? HelloAfterTls { get; set; }

        public StartTlsReport? StartTls { get; set; }

        public TlsHandshakeResult? Tls { get; set; }

        public string? NoTlsReason { get; set; }

        public IReadOnlyList<VersionReport>? Versions { get; set; }

        public CipherScanReport? CipherSuites { get; set; }

        public List<string> Warnings { get; } = [];

        public ErrorReport? Error { get; set; }
    }
}
