using Postern.Configuration;

namespace Postern.Tests.Configuration;

public sealed class ConfigurationValidatorTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    /// <summary>A configuration with no errors and no warnings; each test changes one thing.</summary>
    private static readonly PosternConfiguration Valid = new()
    {
        Gateway = new GatewaySettings
        {
            HostName = "mx.gateway.example",
            Listeners = [new ListenerSettings { Endpoint = "127.0.0.1:2525", Security = ListenerSecurity.None }],
        },
        Organizations =
        [
            new OrganizationSettings
            {
                Name = "Fabrikam",
                AcceptedDomains = ["fabrikam.example"],
                InboundConnectors = [new InboundConnectorSettings { Name = "From Contoso", SenderDomains = ["contoso.example"] }],
                OutboundConnectors = [new OutboundConnectorSettings { Name = "To Contoso", RecipientDomains = ["contoso.example"] }],
            },
        ],
    };

    private static PosternConfiguration WithGateway(Func<GatewaySettings, GatewaySettings> change) =>
        Valid with { Gateway = change(Valid.Gateway) };

    private static PosternConfiguration WithOrganization(Func<OrganizationSettings, OrganizationSettings> change) =>
        Valid with { Organizations = [change(Valid.Organizations[0])] };

    private static PosternConfiguration WithInbound(InboundConnectorSettings connector) =>
        WithOrganization(o => o with { InboundConnectors = [connector] });

    private static PosternConfiguration WithOutbound(OutboundConnectorSettings connector) =>
        WithOrganization(o => o with { OutboundConnectors = [connector] });

    private IReadOnlyList<ConfigurationError> Validate(PosternConfiguration configuration) =>
        ConfigurationValidator.Validate(configuration, _directory.Path);

    /// <summary>Asserts exactly one problem, an error, at <paramref name="path"/>; returns its message.</summary>
    private string AssertSingleError(PosternConfiguration configuration, string path)
    {
        var problem = Assert.Single(Validate(configuration));
        Assert.False(problem.IsWarning, problem.ToString());
        Assert.Equal(path, problem.Path);
        return problem.Message;
    }

    private string AssertSingleWarning(PosternConfiguration configuration, string path)
    {
        var problem = Assert.Single(Validate(configuration));
        Assert.True(problem.IsWarning, problem.ToString());
        Assert.Equal(path, problem.Path);
        return problem.Message;
    }

    private void AssertClean(PosternConfiguration configuration) => Assert.Empty(Validate(configuration));

    [Fact]
    public void Baseline_HasNoProblems() => AssertClean(Valid);

    [Fact]
    public void DefaultRecords_NeedOnlyAListener()
    {
        var problems = ConfigurationValidator.Validate(new PosternConfiguration(), _directory.Path);

        var problem = Assert.Single(problems);
        Assert.Equal("$.gateway.listeners", problem.Path);
        Assert.Equal("at least one listener is required", problem.Message);
    }

    // ---- listeners

    [Theory]
    [InlineData("0.0.0.0:25")]
    [InlineData("192.0.2.10:587")]
    [InlineData("[::]:25")]
    [InlineData("[2001:db8::1]:65535")]
    [InlineData("127.0.0.1:1")]
    public void ListenerEndpoint_Valid(string endpoint) =>
        AssertClean(WithGateway(g => g with { Listeners = [g.Listeners[0] with { Endpoint = endpoint }] }));

    [Theory]
    [InlineData("")]
    [InlineData("0.0.0.0")]
    [InlineData("0.0.0.0:")]
    [InlineData("0.0.0.0:0")]
    [InlineData("0.0.0.0:65536")]
    [InlineData("0.0.0.0:smtp")]
    [InlineData(":25")]
    [InlineData("::1:25")]
    [InlineData("[::1]")]
    [InlineData("[::1:25")]
    [InlineData("[mx.example]:25")]
    [InlineData("mx.example:25")]
    [InlineData("10.1:25")]
    [InlineData("010.0.0.1:25")]
    [InlineData("256.0.0.1:25")]
    public void ListenerEndpoint_Invalid(string endpoint)
    {
        var message = AssertSingleError(
            WithGateway(g => g with { Listeners = [g.Listeners[0] with { Endpoint = endpoint }] }),
            "$.gateway.listeners[0].endpoint");
        Assert.Contains("expected \"address:port\"", message, StringComparison.Ordinal);
    }

    [Fact]
    public void ListenerEndpoint_Duplicate()
    {
        var listener = new ListenerSettings { Endpoint = "[::]:25", Security = ListenerSecurity.None };
        var message = AssertSingleError(
            WithGateway(g => g with { Listeners = [listener, listener with { Endpoint = "127.0.0.1:26" }, listener with { Endpoint = "[0::0]:25" }] }),
            "$.gateway.listeners[2].endpoint");
        Assert.Equal("duplicate endpoint [::]:25; also used by $.gateway.listeners[0]", message);
    }

    [Fact]
    public void Listeners_Empty() =>
        AssertSingleError(WithGateway(g => g with { Listeners = [] }), "$.gateway.listeners");

    [Theory]
    [InlineData(ListenerSecurity.StartTls)]
    [InlineData(ListenerSecurity.ImplicitTls)]
    public void TlsListener_WithoutGatewayCertificates_IsAWarningNotAnError(ListenerSecurity security)
    {
        var message = AssertSingleWarning(
            WithGateway(g => g with { Listeners = [g.Listeners[0] with { Security = security }] }),
            "$.gateway.certificates");
        Assert.Contains("self-signed certificate for mx.gateway.example", message, StringComparison.Ordinal);
    }

    [Fact]
    public void TlsListener_WithGatewayCertificate_IsClean()
    {
        var certificate = _directory.CreateFile("gw.pem");
        AssertClean(WithGateway(g => g with
        {
            Listeners = [g.Listeners[0] with { Security = ListenerSecurity.StartTls }],
            Certificates = [new CertificateSettings { CertificateFile = certificate }],
        }));
    }

    [Fact]
    public void ClientCertificateRequest_OnAListenerWithoutTls_IsAWarning() =>
        AssertSingleWarning(
            WithGateway(g => g with { Listeners = [g.Listeners[0] with { RequestClientCertificate = true }] }),
            "$.gateway.listeners[0].requestClientCertificate");

    // ---- host name, data directory

    [Theory]
    [InlineData("mx.gateway.example")]
    [InlineData("localhost")]
    [InlineData("xn--bcher-kva.example")]
    [InlineData("a-b.c1.example")]
    public void HostName_Valid(string hostName) => AssertClean(WithGateway(g => g with { HostName = hostName }));

    [Theory]
    [InlineData("")]
    [InlineData("mx..example")]
    [InlineData("mx.example.")]
    [InlineData("-mx.example")]
    [InlineData("mx_1.example")]
    [InlineData("bücher.example")]
    [InlineData("192.0.2.1")]
    [InlineData("*.example")]
    [InlineData("mx example")]
    public void HostName_Invalid(string hostName) =>
        AssertSingleError(WithGateway(g => g with { HostName = hostName }), "$.gateway.hostName");

    [Fact]
    public void HostName_TooLongLabel() =>
        AssertSingleError(WithGateway(g => g with { HostName = new string('a', 64) + ".example" }), "$.gateway.hostName");

    [Fact]
    public void DataDirectory_Empty() =>
        AssertSingleError(WithGateway(g => g with { DataDirectory = " " }), "$.gateway.dataDirectory");

    // ---- certificate files

    [Fact]
    public void CertificateFile_Missing()
    {
        var message = AssertSingleError(
            WithGateway(g => g with { Certificates = [new CertificateSettings { CertificateFile = "absent.pem" }] }),
            "$.gateway.certificates[0].certificateFile");
        Assert.Equal($"file not found: {Path.Combine(_directory.Path, "absent.pem")}", message);
    }

    [Fact]
    public void CertificateFile_Empty() =>
        AssertSingleError(
            WithGateway(g => g with { Certificates = [new CertificateSettings()] }),
            "$.gateway.certificates[0].certificateFile");

    [Fact]
    public void CertificateFile_IsADirectory()
    {
        Directory.CreateDirectory(Path.Combine(_directory.Path, "certs"));
        var message = AssertSingleError(
            WithGateway(g => g with { Certificates = [new CertificateSettings { CertificateFile = "certs" }] }),
            "$.gateway.certificates[0].certificateFile");
        Assert.Contains("is a directory", message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyFile_Missing()
    {
        _directory.CreateFile("gw.pem");
        AssertSingleError(
            WithGateway(g => g with { Certificates = [new CertificateSettings { CertificateFile = "gw.pem", KeyFile = "gw.key" }] }),
            "$.gateway.certificates[0].keyFile");
    }

    [Fact]
    public void OrganizationCertificateFile_Missing() =>
        AssertSingleError(
            WithOrganization(o => o with { Certificates = [new CertificateSettings { CertificateFile = _directory.Path + "/none.pfx" }] }),
            "$.organizations[0].certificates[0].certificateFile");

    // ---- tls, trust, dns, admin

    [Theory]
    [InlineData("1.2", true)]
    [InlineData("1.3", true)]
    [InlineData("1.1", false)]
    [InlineData("TLS1.2", false)]
    [InlineData("", false)]
    public void TlsMinimumVersion(string version, bool valid)
    {
        var configuration = WithGateway(g => g with { Tls = new TlsSettings { MinimumVersion = version } });
        if (valid)
        {
            AssertClean(configuration);
        }
        else
        {
            AssertSingleError(configuration, "$.gateway.tls.minimumVersion");
        }
    }

    [Fact]
    public void CipherSuites_KnownNamesAreAccepted() =>
        AssertClean(WithGateway(g => g with
        {
            Tls = new TlsSettings { CipherSuites = ["TLS_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "tls_chacha20_poly1305_sha256"] },
        }));

    [Theory]
    [InlineData("TLS_AES_512_GCM_SHA384")]
    [InlineData("ECDHE-RSA-AES128-GCM-SHA256")]
    [InlineData("4866")]
    public void CipherSuites_UnknownName(string suite) =>
        AssertSingleError(
            WithGateway(g => g with { Tls = new TlsSettings { CipherSuites = ["TLS_AES_128_GCM_SHA256", suite] } }),
            "$.gateway.tls.cipherSuites[1]");

    [Fact]
    public void AdditionalRoot_Missing() =>
        AssertSingleError(
            WithGateway(g => g with { Trust = new TrustSettings { AdditionalRoots = ["roots/partner.pem"] } }),
            "$.gateway.trust.additionalRoots[0]");

    [Fact]
    public void NoTrustedRootsAtAll_IsAWarning() =>
        AssertSingleWarning(
            WithGateway(g => g with { Trust = new TrustSettings { UseSystemStore = false } }),
            "$.gateway.trust.useSystemStore");

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:5353")]
    [InlineData("resolver.example")]
    [InlineData("resolver.example:53")]
    [InlineData("[::1]:53")]
    [InlineData("2001:db8::53")]
    public void DnsServer_Valid(string server) =>
        AssertClean(WithGateway(g => g with { Dns = new DnsSettings { Servers = [server] } }));

    [Theory]
    [InlineData("")]
    [InlineData("127.0.0.1:")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("2001:db8::53:53x")]
    [InlineData("resolver..example")]
    [InlineData("udp://127.0.0.1")]
    public void DnsServer_Invalid(string server) =>
        AssertSingleError(
            WithGateway(g => g with { Dns = new DnsSettings { Servers = ["127.0.0.1", server] } }),
            "$.gateway.dns.servers[1]");

    [Fact]
    public void DnsTimeout_NotPositive() =>
        AssertSingleError(WithGateway(g => g with { Dns = new DnsSettings { TimeoutSeconds = 0 } }), "$.gateway.dns.timeoutSeconds");

    [Theory]
    [InlineData("127.0.0.1:8025")]
    [InlineData("127.10.20.30:8025")]
    [InlineData("[::1]:8025")]
    [InlineData("localhost:8025")]
    [InlineData("unix:/run/postern/admin.sock")]
    public void AdminEndpoint_Valid(string endpoint) =>
        AssertClean(WithGateway(g => g with { Admin = new AdminSettings { Endpoint = endpoint } }));

    [Theory]
    [InlineData("0.0.0.0:8025")]
    [InlineData("192.0.2.1:8025")]
    [InlineData("[::]:8025")]
    [InlineData("admin.example:8025")]
    [InlineData("127.0.0.1")]
    [InlineData("unix:admin.sock")]
    [InlineData("")]
    public void AdminEndpoint_Invalid(string endpoint) =>
        AssertSingleError(WithGateway(g => g with { Admin = new AdminSettings { Endpoint = endpoint } }), "$.gateway.admin.endpoint");

    // ---- limits and queue

    public static TheoryData<Func<LimitSettings, LimitSettings>, string> NonPositiveLimits => new()
    {
        { l => l with { MaxRecipientsPerMessage = 0 }, "maxRecipientsPerMessage" },
        { l => l with { MaxMessageSize = -1 }, "maxMessageSize" },
        { l => l with { CommandTimeoutSeconds = 0 }, "commandTimeoutSeconds" },
        { l => l with { TlsHandshakeTimeoutSeconds = 0 }, "tlsHandshakeTimeoutSeconds" },
        { l => l with { MaxConnectionsPerClient = 0 }, "maxConnectionsPerClient" },
        { l => l with { MaxBadCommands = -5 }, "maxBadCommands" },
        { l => l with { MaxMessagesPerSession = -1 }, "maxMessagesPerSession" },
        { l => l with { ShutdownGraceSeconds = 0 }, "shutdownGraceSeconds" },
        { l => l with { GreetingDelayMilliseconds = -1 }, "greetingDelayMilliseconds" },
        { l => l with { MaxCommandLineLength = 511 }, "maxCommandLineLength" },
    };

    [Theory]
    [MemberData(nameof(NonPositiveLimits))]
    public void Limit_OutOfRange(Func<LimitSettings, LimitSettings> change, string key) =>
        AssertSingleError(WithGateway(g => g with { Limits = change(g.Limits) }), $"$.gateway.limits.{key}");

    [Fact]
    public void Limits_ZeroMeansUnlimitedWhereDocumented() =>
        AssertClean(WithGateway(g => g with { Limits = g.Limits with { MaxMessagesPerSession = 0, GreetingDelayMilliseconds = 0 } }));

    [Fact]
    public void Limit_RecipientsBelowTheRfcMinimum_IsAWarning() =>
        AssertSingleWarning(WithGateway(g => g with { Limits = g.Limits with { MaxRecipientsPerMessage = 50 } }), "$.gateway.limits.maxRecipientsPerMessage");

    [Fact]
    public void Queue_MinimumBackoffAboveMaximum()
    {
        var message = AssertSingleError(
            WithGateway(g => g with { Queue = g.Queue with { MinimumBackoffSeconds = 600, MaximumBackoffSeconds = 300 } }),
            "$.gateway.queue.minimumBackoffSeconds");
        Assert.Equal("greater than maximumBackoffSeconds (300)", message);
    }

    [Fact]
    public void Queue_EqualBackoffs_AreFine() =>
        AssertClean(WithGateway(g => g with { Queue = g.Queue with { MinimumBackoffSeconds = 600, MaximumBackoffSeconds = 600 } }));

    [Fact]
    public void Queue_LifetimeNotPositive() =>
        AssertSingleError(WithGateway(g => g with { Queue = g.Queue with { LifetimeHours = 0 } }), "$.gateway.queue.lifetimeHours");

    [Fact]
    public void Queue_DelayWarningAfterLifetime_IsAWarning() =>
        AssertSingleWarning(WithGateway(g => g with { Queue = g.Queue with { DelayWarningHours = 48 } }), "$.gateway.queue.delayWarningHours");

    [Fact]
    public void Trace_RetentionBelowOneDay()
    {
        var message = AssertSingleError(WithGateway(g => g with { Trace = g.Trace with { RetentionDays = 0 } }), "$.gateway.trace.retentionDays");
        Assert.Equal("must be at least 1 (is 0)", message);
    }

    [Fact]
    public void Trace_SizeBelowSixteenMegabytes()
    {
        var message = AssertSingleError(WithGateway(g => g with { Trace = g.Trace with { MaxSizeMegabytes = 15 } }), "$.gateway.trace.maxSizeMegabytes");
        Assert.Equal("must be at least 16 (is 15)", message);
    }

    [Fact]
    public void Trace_SmallestValuesAreFine() =>
        AssertClean(WithGateway(g => g with { Trace = new TraceSettings { Enabled = false, RetentionDays = 1, MaxSizeMegabytes = 16 } }));

    // ---- organizations

    [Fact]
    public void OrganizationName_Empty() =>
        AssertSingleError(WithOrganization(o => o with { Name = "" }), "$.organizations[0].name");

    [Fact]
    public void OrganizationName_Duplicate()
    {
        var second = new OrganizationSettings { Name = "FABRIKAM", AcceptedDomains = ["other.example"] };
        var message = AssertSingleError(Valid with { Organizations = [Valid.Organizations[0], second] }, "$.organizations[1].name");
        Assert.Contains("$.organizations[0]", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("*.fabrikam.example")]
    [InlineData("fabrikam..example")]
    [InlineData("fabrikam.example:25")]
    public void AcceptedDomain_Invalid(string domain) =>
        AssertSingleError(WithOrganization(o => o with { AcceptedDomains = ["ok.example", domain] }), "$.organizations[0].acceptedDomains[1]");

    [Fact]
    public void AcceptedDomain_SingleLabel_IsAllowed() =>
        AssertClean(WithOrganization(o => o with { AcceptedDomains = ["intranet"] }));

    [Fact]
    public void AcceptedDomain_DuplicateAcrossOrganizations()
    {
        var second = new OrganizationSettings { Name = "Northwind", AcceptedDomains = ["northwind.example", "Fabrikam.Example"] };
        var message = AssertSingleError(Valid with { Organizations = [Valid.Organizations[0], second] }, "$.organizations[1].acceptedDomains[1]");
        Assert.Contains("$.organizations[0].acceptedDomains[0]", message, StringComparison.Ordinal);
    }

    [Fact]
    public void AcceptedDomains_Empty_IsAWarning() =>
        AssertSingleWarning(WithOrganization(o => o with { AcceptedDomains = [] }), "$.organizations[0].acceptedDomains");

    // ---- inbound connectors

    private static readonly InboundConnectorSettings Inbound = Valid.Organizations[0].InboundConnectors[0];

    [Fact]
    public void InboundName_Empty() =>
        AssertSingleError(WithInbound(Inbound with { Name = "" }), "$.organizations[0].inboundConnectors[0].name");

    [Fact]
    public void InboundName_DuplicateAcrossOrganizations()
    {
        var second = new OrganizationSettings
        {
            Name = "Northwind",
            AcceptedDomains = ["northwind.example"],
            InboundConnectors = [Inbound with { Name = "from contoso" }],
        };
        AssertSingleError(Valid with { Organizations = [Valid.Organizations[0], second] }, "$.organizations[1].inboundConnectors[0].name");
    }

    [Fact]
    public void InboundAndOutbound_MayShareAName() =>
        AssertClean(WithOrganization(o => o with { OutboundConnectors = [o.OutboundConnectors[0] with { Name = "From Contoso" }] }));

    [Theory]
    [InlineData("192.0.2.1")]
    [InlineData("192.0.2.0/24")]
    [InlineData("0.0.0.0/0")]
    [InlineData("2001:db8::1")]
    [InlineData("2001:db8::/48")]
    [InlineData("::/0")]
    public void SenderIPAddress_Valid(string entry) =>
        AssertClean(WithInbound(Inbound with { SenderIPAddresses = [entry] }));

    [Theory]
    [InlineData("192.0.2.1/24")]
    [InlineData("192.0.2.0/33")]
    [InlineData("192.0.2.0/")]
    [InlineData("192.0.2")]
    [InlineData("10/8")]
    [InlineData("2001:db8::/129")]
    [InlineData("fe80::1%eth0")]
    [InlineData("mail.contoso.example")]
    [InlineData("192.0.2.1-192.0.2.9")]
    [InlineData("")]
    public void SenderIPAddress_Invalid(string entry) =>
        AssertSingleError(WithInbound(Inbound with { SenderIPAddresses = ["198.51.100.7", entry] }), "$.organizations[0].inboundConnectors[0].senderIPAddresses[1]");

    [Fact]
    public void SenderIPAddress_WithHostBits_SuggestsTheNetwork()
    {
        var message = AssertSingleError(WithInbound(Inbound with { SenderIPAddresses = ["192.0.2.77/24"] }), "$.organizations[0].inboundConnectors[0].senderIPAddresses[0]");
        Assert.Contains("did you mean 192.0.2.0/24?", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("contoso.example")]
    [InlineData("*.contoso.example")]
    [InlineData("*")]
    public void SenderDomain_Valid(string domain) =>
        AssertClean(WithInbound(Inbound with { SenderDomains = [domain] }));

    [Theory]
    [InlineData("mail.*.contoso.example")]
    [InlineData("*contoso.example")]
    [InlineData("contoso.*")]
    [InlineData("**.contoso.example")]
    [InlineData("*.")]
    [InlineData("@contoso.example")]
    public void SenderDomain_Invalid(string domain) =>
        AssertSingleError(WithInbound(Inbound with { SenderDomains = [domain] }), "$.organizations[0].inboundConnectors[0].senderDomains[0]");

    [Fact]
    public void SenderDomain_EmbeddedWildcard_SaysWhereAWildcardMayGo()
    {
        var message = AssertSingleError(WithInbound(Inbound with { SenderDomains = ["a.*.b"] }), "$.organizations[0].inboundConnectors[0].senderDomains[0]");
        Assert.Contains("only as a whole first label", message, StringComparison.Ordinal);
    }

    private static PosternConfiguration WithClientCertificates(PosternConfiguration configuration, string file) =>
        configuration with
        {
            Gateway = configuration.Gateway with
            {
                Listeners = [new ListenerSettings { Endpoint = "127.0.0.1:2525", Security = ListenerSecurity.StartTls, RequestClientCertificate = true }],
                Certificates = [new CertificateSettings { CertificateFile = file }],
            },
        };

    [Theory]
    [InlineData("mail.contoso.example")]
    [InlineData("*.contoso.example")]
    public void TlsSenderCertificateName_Valid(string name) =>
        AssertClean(WithClientCertificates(WithInbound(Inbound with { RequireTls = true, TlsSenderCertificateName = name }), _directory.CreateFile("gw.pem")));

    [Theory]
    [InlineData("*")]
    [InlineData("mail.*.contoso.example")]
    [InlineData("CN=mail.contoso.example")]
    [InlineData("")]
    public void TlsSenderCertificateName_Invalid(string name) =>
        AssertSingleError(
            WithClientCertificates(WithInbound(Inbound with { RequireTls = true, TlsSenderCertificateName = name }), _directory.CreateFile("gw.pem")),
            "$.organizations[0].inboundConnectors[0].tlsSenderCertificateName");

    [Theory]
    [InlineData("192.0.2.10", true)]
    [InlineData("2001:db8::10", true)]
    [InlineData("mail.example", false)]
    public void DefaultOutboundSourceAddress_MustBeAnAddress(string address, bool valid)
    {
        var configuration = WithGateway(g => g with { DefaultOutbound = new DefaultOutboundSettings { SourceAddress = address } });
        if (valid) AssertClean(configuration);
        else AssertSingleError(configuration, "$.gateway.defaultOutbound.sourceAddress");
    }

    [Fact]
    public void TlsSenderCertificateName_ThatNoTrustRootCouldSatisfy_IsAWarning()
    {
        var configuration = WithClientCertificates(WithInbound(Inbound with { RequireTls = true, TlsSenderCertificateName = "mail.contoso.example" }), _directory.CreateFile("gw.pem"));
        configuration = configuration with { Gateway = configuration.Gateway with { Trust = new TrustSettings { UseSystemStore = false } } };
        var problems = Validate(configuration);
        Assert.All(problems, p => Assert.True(p.IsWarning, p.ToString()));
        Assert.Contains(problems, p => p.Path == "$.organizations[0].inboundConnectors[0].tlsSenderCertificateName" && p.Message.Contains("no certificate can ever satisfy", StringComparison.Ordinal));
    }

    [Fact]
    public void TlsSenderCertificateName_WithoutAnyListenerRequestingClientCertificates_IsAWarning() =>
        AssertSingleWarning(
            WithInbound(Inbound with { RequireTls = true, TlsSenderCertificateName = "mail.contoso.example" }),
            "$.organizations[0].inboundConnectors[0].tlsSenderCertificateName");

    [Fact]
    public void RestrictDomainsToCertificate_RequiresACertificateName()
    {
        var message = AssertSingleError(WithInbound(Inbound with { RestrictDomainsToCertificate = true }), "$.organizations[0].inboundConnectors[0].restrictDomainsToCertificate");
        Assert.Equal("requires tlsSenderCertificateName", message);
    }

    [Fact]
    public void RestrictDomainsToIPAddresses_RequiresSenderIPAddresses()
    {
        var message = AssertSingleError(WithInbound(Inbound with { RestrictDomainsToIPAddresses = true }), "$.organizations[0].inboundConnectors[0].restrictDomainsToIPAddresses");
        Assert.Equal("requires senderIPAddresses", message);
    }

    [Fact]
    public void RestrictDomainsToIPAddresses_WithAddresses_IsClean() =>
        AssertClean(WithInbound(Inbound with { RestrictDomainsToIPAddresses = true, SenderIPAddresses = ["192.0.2.0/24"] }));

    [Fact]
    public void OnPremisesInbound_NeedsAddressesOrCertificateName() =>
        AssertSingleError(WithInbound(new InboundConnectorSettings { Name = "Servers", ConnectorType = ConnectorType.OnPremises }), "$.organizations[0].inboundConnectors[0]");

    [Fact]
    public void OnPremisesInbound_WithAddresses_IsClean() =>
        AssertClean(WithInbound(new InboundConnectorSettings { Name = "Servers", ConnectorType = ConnectorType.OnPremises, SenderIPAddresses = ["10.0.0.0/8"] }));

    [Fact]
    public void PartnerInbound_WithoutSenderDomains_IsAWarning() =>
        AssertSingleWarning(WithInbound(Inbound with { SenderDomains = [] }), "$.organizations[0].inboundConnectors[0].senderDomains");

    // ---- outbound connectors

    private static readonly OutboundConnectorSettings Outbound = Valid.Organizations[0].OutboundConnectors[0];

    [Fact]
    public void OutboundName_Duplicate()
    {
        var message = AssertSingleError(
            WithOrganization(o => o with { OutboundConnectors = [Outbound, Outbound with { RecipientDomains = ["northwind.example"] }] }),
            "$.organizations[0].outboundConnectors[1].name");
        Assert.Contains("$.organizations[0].outboundConnectors[0]", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(TlsLevel.None)]
    [InlineData(TlsLevel.Opportunistic)]
    [InlineData(TlsLevel.EncryptionOnly)]
    [InlineData(TlsLevel.CertificateValidation)]
    public void TlsDomain_OnlyWithDomainValidation(TlsLevel level) =>
        AssertSingleError(WithOutbound(Outbound with { TlsSettings = level, TlsDomain = "mail.contoso.example" }), "$.organizations[0].outboundConnectors[0].tlsDomain");

    [Theory]
    [InlineData("mail.contoso.example")]
    [InlineData("*.contoso.example")]
    public void TlsDomain_WithDomainValidation_IsClean(string tlsDomain) =>
        AssertClean(WithOutbound(Outbound with { TlsSettings = TlsLevel.DomainValidation, TlsDomain = tlsDomain }));

    [Theory]
    [InlineData("mail.*.example")]
    [InlineData("*")]
    public void TlsDomain_Invalid(string tlsDomain) =>
        AssertSingleError(WithOutbound(Outbound with { TlsSettings = TlsLevel.DomainValidation, TlsDomain = tlsDomain }), "$.organizations[0].outboundConnectors[0].tlsDomain");

    [Fact]
    public void AllAcceptedDomains_NotOnAPartnerConnector() =>
        AssertSingleError(WithOutbound(Outbound with { AllAcceptedDomains = true }), "$.organizations[0].outboundConnectors[0].allAcceptedDomains");

    [Fact]
    public void AllAcceptedDomains_OnAnOnPremisesConnector_IsClean() =>
        AssertClean(WithOutbound(Outbound with { ConnectorType = ConnectorType.OnPremises, RecipientDomains = [], AllAcceptedDomains = true, UseMxRecord = false, SmartHosts = ["mail.fabrikam.example"] }));

    [Fact]
    public void AllAcceptedDomains_OnTwoConnectorsOfOneOrganization()
    {
        var onPremises = Outbound with { ConnectorType = ConnectorType.OnPremises, RecipientDomains = [], AllAcceptedDomains = true, SmartHosts = ["mail.fabrikam.example"] };
        AssertSingleError(
            WithOrganization(o => o with { OutboundConnectors = [onPremises, onPremises with { Name = "Backup" }] }),
            "$.organizations[0].outboundConnectors[1].allAcceptedDomains");
    }

    [Fact]
    public void SmartHosts_WithUseMxRecordTrue() =>
        AssertSingleError(WithOutbound(Outbound with { UseMxRecord = true, SmartHosts = ["relay.example"] }), "$.organizations[0].outboundConnectors[0].useMxRecord");

    [Fact]
    public void NoSmartHosts_WithUseMxRecordFalse() =>
        AssertSingleError(WithOutbound(Outbound with { UseMxRecord = false }), "$.organizations[0].outboundConnectors[0].smartHosts");

    [Theory]
    [InlineData(null, new string[0])]
    [InlineData(true, new string[0])]
    [InlineData(null, new[] { "relay.example" })]
    [InlineData(false, new[] { "relay.example" })]
    public void SmartHostsAndUseMxRecord_ValidCombinations(bool? useMxRecord, string[] smartHosts) =>
        AssertClean(WithOutbound(Outbound with { UseMxRecord = useMxRecord, SmartHosts = smartHosts }));

    [Theory]
    [InlineData("relay.example")]
    [InlineData("relay.example:2525")]
    [InlineData("192.0.2.25")]
    [InlineData("192.0.2.25:587")]
    [InlineData("[192.0.2.25]:25")]
    [InlineData("[2001:db8::25]:25")]
    [InlineData("[2001:db8::25]")]
    public void SmartHost_Valid(string smartHost) =>
        AssertClean(WithOutbound(Outbound with { SmartHosts = [smartHost] }));

    [Theory]
    [InlineData("")]
    [InlineData("relay.example:")]
    [InlineData("relay.example:0")]
    [InlineData("relay.example:99999")]
    [InlineData("2001:db8::25")]
    [InlineData("[relay.example]:25")]
    [InlineData("relay_1.example")]
    [InlineData("smtp://relay.example")]
    public void SmartHost_Invalid(string smartHost) =>
        AssertSingleError(WithOutbound(Outbound with { SmartHosts = ["relay.example", smartHost] }), "$.organizations[0].outboundConnectors[0].smartHosts[1]");

    [Fact]
    public void RecipientDomain_ClaimedByTwoConnectors()
    {
        var second = new OrganizationSettings
        {
            Name = "Northwind",
            AcceptedDomains = ["northwind.example"],
            OutboundConnectors = [Outbound with { Name = "Northwind to Contoso", RecipientDomains = ["tailspin.example", "CONTOSO.example"] }],
        };
        var message = AssertSingleError(Valid with { Organizations = [Valid.Organizations[0], second] }, "$.organizations[1].outboundConnectors[0].recipientDomains[1]");
        Assert.Contains("$.organizations[0].outboundConnectors[0].recipientDomains[0]", message, StringComparison.Ordinal);
    }

    [Fact]
    public void RecipientDomain_ExactAndWildcard_MayCoexist() =>
        AssertClean(WithOrganization(o => o with
        {
            OutboundConnectors = [Outbound, Outbound with { Name = "To Contoso subdomains", RecipientDomains = ["*.contoso.example"] }],
        }));

    [Theory]
    [InlineData("a.*.contoso.example")]
    [InlineData("user@contoso.example")]
    public void RecipientDomain_Invalid(string domain) =>
        AssertSingleError(WithOutbound(Outbound with { RecipientDomains = [domain] }), "$.organizations[0].outboundConnectors[0].recipientDomains[0]");

    [Fact]
    public void RecipientDomains_EmptyWithoutAllAcceptedDomains_IsAWarning() =>
        AssertSingleWarning(WithOutbound(Outbound with { RecipientDomains = [] }), "$.organizations[0].outboundConnectors[0].recipientDomains");

    [Theory]
    [InlineData("3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b")]
    [InlineData("3A:7B:D3:E2:36:0A:3D:29:EE:A4:36:FC:FB:7E:44:C7:35:D1:17:C4:2D:1C:18:35:42:0B:6B:99:42:DD:4F:1B")]
    public void CertificateFingerprint_Valid(string fingerprint) =>
        AssertClean(WithOutbound(Outbound with { CertificateFingerprints = [fingerprint] }));

    [Theory]
    [InlineData("3a7bd3e2360a3d29eea436fcfb7e44c735d117c4")] // SHA-1 length
    [InlineData("3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1")]
    [InlineData("3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1bb")]
    [InlineData("zz7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b")]
    [InlineData("3a 7b d3 e2 36 0a 3d 29 ee a4 36 fc fb 7e 44 c7 35 d1 17 c4 2d 1c 18 35 42 0b 6b 99 42 dd 4f 1b")]
    public void CertificateFingerprint_Invalid(string fingerprint) =>
        AssertSingleError(WithOutbound(Outbound with { CertificateFingerprints = [fingerprint] }), "$.organizations[0].outboundConnectors[0].certificateFingerprints[0]");

    [Fact]
    public void TrustedRoot_Missing() =>
        AssertSingleError(WithOutbound(Outbound with { TrustedRoots = [_directory.CreateFile("a.pem"), "b.pem"] }), "$.organizations[0].outboundConnectors[0].trustedRoots[1]");

    [Fact]
    public void ClientCertificateFiles_Missing()
    {
        var problems = Validate(WithOutbound(Outbound with { ClientCertificate = new CertificateSettings { CertificateFile = "client.pem", KeyFile = "client.key" } }));

        Assert.Equal(
            ["$.organizations[0].outboundConnectors[0].clientCertificate.certificateFile", "$.organizations[0].outboundConnectors[0].clientCertificate.keyFile"],
            problems.Select(p => p.Path));
    }

    [Fact]
    public void ClientCertificateFiles_Present_IsClean()
    {
        _directory.CreateFile("client.pem");
        _directory.CreateFile("client.key");
        AssertClean(WithOutbound(Outbound with { ClientCertificate = new CertificateSettings { CertificateFile = "client.pem", KeyFile = "client.key" } }));
    }

    [Fact]
    public void EveryProblem_IsReported_NotJustTheFirst()
    {
        var configuration = new PosternConfiguration
        {
            Gateway = new GatewaySettings
            {
                HostName = "bad_name",
                Listeners = [new ListenerSettings { Endpoint = "0.0.0.0:99999", Security = ListenerSecurity.None }],
                Admin = new AdminSettings { Endpoint = "0.0.0.0:8025" },
            },
            Organizations =
            [
                new OrganizationSettings
                {
                    Name = "",
                    AcceptedDomains = ["*.x.example"],
                    OutboundConnectors = [new OutboundConnectorSettings { Name = "x", RecipientDomains = ["y.example"], UseMxRecord = false, TlsDomain = "y.example" }],
                },
            ],
        };

        Assert.Equal(
            [
                "$.gateway.hostName",
                "$.gateway.listeners[0].endpoint",
                "$.gateway.admin.endpoint",
                "$.organizations[0].name",
                "$.organizations[0].acceptedDomains[0]",
                "$.organizations[0].outboundConnectors[0].smartHosts",
                "$.organizations[0].outboundConnectors[0].tlsDomain",
            ],
            Validate(configuration).Select(p => p.Path));
    }
}
