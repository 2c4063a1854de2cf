using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>Proves the interop harness against real Postfix, swaks, openssl and posttls-finger.</summary>
[Collection(InteropCollection.Name)]
public sealed class HarnessTests(InteropEnvironment environment)
{
    private const string Receiver = "127.0.0.5";
    private const string Sender = "127.0.0.6";
    private const string MxName = "mx.example.test";
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    private TestPki Pki => environment.Pki;

    [InteropFact]
    public async Task ExternalProcess_kills_a_program_that_outlives_its_timeout()
    {
        var result = await ExternalProcess.RunAsync("sh", ["-c", "sleep 30"], timeout: TimeSpan.FromSeconds(1));

        Assert.True(result.TimedOut);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(10), result.Describe());
    }

    [InteropFact]
    public async Task ExternalProcess_passes_stdin_and_captures_both_streams()
    {
        var result = await ExternalProcess.RunAsync("sh", ["-c", "cat; echo oops >&2; exit 3"], standardInput: "hello\n");

        Assert.Equal(3, result.ExitCode);
        Assert.Equal("hello\n", result.StandardOutput);
        Assert.Equal("oops\n", result.StandardError);
    }

    [Fact]
    public void Server_certificate_has_the_requested_names_and_chains_to_the_test_root()
    {
        var issued = Pki.IssueServer(MxName, MxName, "alt.example.test", Receiver);
        using var leaf = issued.LoadCertificate();

        var san = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal([MxName, "alt.example.test"], san.EnumerateDnsNames().ToArray());
        Assert.Equal([Receiver], san.EnumerateIPAddresses().Select(a => a.ToString()).ToArray());
        Assert.Contains("CN=Postern Test Intermediate CA", leaf.Issuer, StringComparison.Ordinal);
        Assert.Contains(leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>(),
            oid => oid.Value == "1.3.6.1.5.5.7.3.1");
        Assert.Equal(2, Regex.Matches(File.ReadAllText(issued.FullChainPath), "BEGIN CERTIFICATE").Count);

        using var intermediate = X509CertificateLoader.LoadCertificateFromFile(issued.IntermediatePath);
        var constraints = intermediate.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(constraints.CertificateAuthority);
        Assert.True(constraints.HasPathLengthConstraint);
        Assert.Equal(0, constraints.PathLengthConstraint);

        var status = BuildChain(issued);
        Assert.True(status.Length == 0, string.Join("; ", status.Select(s => s.StatusInformation)));
    }

    [Fact]
    public void Expired_rogue_and_ecdsa_certificates_are_what_they_say()
    {
        var expired = Pki.IssueExpired("expired.example.test");
        using (var cert = expired.LoadCertificate())
        {
            Assert.True(cert.NotAfter < DateTime.Now, $"NotAfter {cert.NotAfter:O}");
        }

        Assert.Contains(BuildChain(expired), s => s.Status == X509ChainStatusFlags.NotTimeValid);

        var rogue = Pki.IssueFromRogueCa(MxName);
        Assert.NotEqual(Pki.RootCertificatePath, rogue.RootPath);
        using (var cert = rogue.LoadCertificate())
        {
            Assert.Contains("CN=Rogue Intermediate CA", cert.Issuer, StringComparison.Ordinal);
            using var chain = TrustingTestRoot();
            chain.ChainPolicy.ExtraStore.Add(X509CertificateLoader.LoadCertificateFromFile(rogue.IntermediatePath));
            Assert.False(chain.Build(cert));
        }

        var ecdsa = Pki.IssueServerEcdsa("ec.example.test");
        using (var cert = ecdsa.LoadWithKey())
        {
            Assert.NotNull(cert.GetECDsaPublicKey());
            Assert.True(cert.HasPrivateKey);
        }

        var client = Pki.IssueClient("client.example.test");
        using (var cert = client.LoadCertificate())
        {
            var usages = cert.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages;
            Assert.Equal("1.3.6.1.5.5.7.3.2", Assert.Single(usages.Cast<System.Security.Cryptography.Oid>()).Value);
        }

        Assert.Same(client, Pki.IssueClient("client.example.test"));
    }

    [InteropFact]
    public async Task Postfix_instance_delivers_what_swaks_sends_into_its_Maildir()
    {
        using var postfix = PostfixInstance.StartNew(new PostfixOptions("maildir", Receiver) { MaildirDomains = ["example.test"] });
        var token = Guid.NewGuid().ToString("N");

        var sent = await Swaks.SendAsync(new SwaksOptions(Receiver, 25, "sender@example.org", ["user@example.test"])
        {
            Headers = [$"Subject: harness {token}"],
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        Assert.Contains(sent.ServerLines, l => l.StartsWith("250 2.0.0 Ok: queued", StringComparison.Ordinal));
        var message = Assert.Single(await postfix.WaitForMaildirMessagesAsync(1, DeliveryTimeout));
        Assert.Contains($"Subject: harness {token}", message, StringComparison.Ordinal);
        Assert.Contains("Delivered-To: user@example.test", message, StringComparison.Ordinal);
        await postfix.WaitForMaillogAsync(new Regex("status=sent \\(delivered to maildir\\)"), DeliveryTimeout);
        Assert.True(postfix.QueueIsEmpty(), postfix.DescribeQueue());
    }

    [InteropFact]
    public async Task Postfix_relays_to_Postfix_over_verified_STARTTLS_with_client_certificate()
    {
        var serverCert = Pki.IssueServer(MxName);
        var clientCert = Pki.Issue("relay.example.test", [], TestKeyType.Ecdsa, TestCertificateUsage.Client);
        using var receiver = PostfixInstance.StartNew(new PostfixOptions("receiver", Receiver)
        {
            Hostname = MxName,
            MaildirDomains = ["example.test"],
            ServerTls = PostfixServerTls.For(serverCert),
        });
        using var relay = PostfixInstance.StartNew(new PostfixOptions("relay", Sender)
        {
            Hostname = "relay.example.test",
            RelayHost = receiver.Endpoint,
            ClientTls = new PostfixClientTls
            {
                SecurityLevel = "may",
                CAfile = Pki.RootCertificatePath,
                CertFile = clientCert.FullChainPath,
                KeyFile = clientCert.KeyPath,
                PolicyMapEntries = [$"{receiver.Endpoint} secure match={MxName}"],
            },
        });
        var token = Guid.NewGuid().ToString("N");

        var sent = await Swaks.SendAsync(new SwaksOptions(Sender, 25, "sender@example.org", ["user@example.test"])
        {
            Headers = [$"Subject: relayed {token}"],
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        var message = Assert.Single(await receiver.WaitForMaildirMessagesAsync(1, DeliveryTimeout));
        Assert.Contains($"Subject: relayed {token}", message, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"from relay\.example\.test \(unknown \[127\.0\.0\.6\]\)\s+\(using TLSv1\.[23] with cipher \S+"), message);
        Assert.Contains("(Client CN \"relay.example.test\", Issuer \"Postern Test Intermediate CA\" (verified OK))", message, StringComparison.Ordinal);
        await relay.WaitForMaillogAsync(new Regex($@"Verified TLS connection established to {Regex.Escape(Receiver)}\[{Regex.Escape(Receiver)}\]:25"), DeliveryTimeout);
        await relay.WaitForMaillogAsync(new Regex(@"relay=127\.0\.0\.5\[127\.0\.0\.5\]:25, .*status=sent"), DeliveryTimeout);
        Assert.True(relay.QueueIsEmpty(), relay.DescribeQueue());
    }

    [InteropFact]
    public async Task Postfix_relay_defers_when_the_next_hop_presents_a_rogue_certificate()
    {
        using var receiver = PostfixInstance.StartNew(new PostfixOptions("rogue", Receiver)
        {
            Hostname = MxName,
            MaildirDomains = ["example.test"],
            ServerTls = PostfixServerTls.For(Pki.IssueFromRogueCa(MxName)),
        });
        using var relay = PostfixInstance.StartNew(new PostfixOptions("strict", Sender)
        {
            RelayHost = receiver.Endpoint,
            ClientTls = new PostfixClientTls
            {
                SecurityLevel = "secure",
                CAfile = Pki.RootCertificatePath,
                PolicyMapEntries = [$"{receiver.Endpoint} secure match={MxName}"],
            },
        });

        var sent = await Swaks.SendAsync(Sender, 25, "sender@example.org", "user@example.test");

        Assert.True(sent.Succeeded, sent.Transcript);
        await relay.WaitForMaillogAsync(new Regex(@"status=deferred .*[Ss]erver certificate not verified"), DeliveryTimeout);
        Assert.False(relay.QueueIsEmpty());
        Assert.Empty(receiver.ReadMaildirMessages());
    }

    [InteropFact]
    public async Task Openssl_and_posttls_finger_see_the_chain_Postfix_presents()
    {
        var serverCert = Pki.IssueServer(MxName);
        using var receiver = PostfixInstance.StartNew(new PostfixOptions("presenter", Receiver)
        {
            Hostname = MxName,
            ServerTls = PostfixServerTls.For(serverCert),
        });

        var probe = await OpenSslClient.ShowCertsAsync(Receiver, 25, MxName, starttls: true, caFile: Pki.RootCertificatePath);

        Assert.True(probe.HandshakeSucceeded, probe.Process.Describe());
        Assert.True(probe.PresentedChain.Count == 2, probe.Process.Describe());
        Assert.Equal(["O = Postern Test, CN = mx.example.test", Pki.IntermediateSubject], probe.PresentedChain.Select(c => c.Subject).ToArray());
        Assert.Equal(MxName, probe.Leaf!.CommonName);
        Assert.Equal(Pki.IntermediateSubject, probe.Leaf.Issuer);
        Assert.Equal(serverCert.CertificatePem.Trim(), probe.Leaf.Pem.Trim());
        Assert.Equal(0, probe.VerifyReturnCode);
        Assert.Matches("^TLSv1\\.[23]$", probe.Protocol!);

        var finger = await PostTlsFinger.RunAsync(Receiver, 25, "secure", Pki.RootCertificatePath, [MxName]);

        Assert.True(finger.Verified, finger.Output);
        Assert.Equal(probe.Protocol, finger.Protocol);

        var wrongName = await PostTlsFinger.RunAsync(Receiver, 25, "secure", Pki.RootCertificatePath, ["other.example.test"]);
        Assert.False(wrongName.Verified, wrongName.Output);
    }

    private X509ChainStatus[] BuildChain(IssuedCertificate issued)
    {
        using var leaf = issued.LoadCertificate();
        using var chain = TrustingTestRoot();
        chain.ChainPolicy.ExtraStore.Add(X509CertificateLoader.LoadCertificateFromFile(issued.IntermediatePath));
        chain.Build(leaf);
        return chain.ChainStatus;
    }

    private X509Chain TrustingTestRoot()
    {
        var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(X509CertificateLoader.LoadCertificateFromFile(Pki.RootCertificatePath));
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain;
    }
}
