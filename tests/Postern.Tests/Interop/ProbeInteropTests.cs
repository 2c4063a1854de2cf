using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Postern.Cli;
using Postern.Probing;
using Xunit.Abstractions;

namespace Postern.Tests.Interop;

/// <summary>
/// <c>postern probe</c> against real Postfix servers, checked against what <c>openssl s_client</c>
/// and <c>posttls-finger</c> see of the same server; a domain target through a real unbound.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class ProbeInteropTests(InteropEnvironment environment, ITestOutputHelper output)
{
    private const string Mx1 = "127.0.0.12";
    private const string Mx2 = "127.0.0.13";
    private const string Mx3 = "127.0.0.14";

    private TestPki Pki => environment.Pki;

    private async Task<(int Exit, ProbeReport Report, string Text)> ProbeAsync(string target, string caFile, string[]? expect = null, string? dns = null, double timeout = 10, bool versions = false, bool ciphers = false, bool showJson = false)
    {
        var settings = new ProbeCommand.Settings(target, false, null, false, "probe.example.test", timeout, [new FileInfo(caFile)], true, null, null, expect ?? [], dns, null, true, null, versions, ciphers);
        using var json = new StringWriter();
        using var error = new StringWriter();
        var exit = await ProbeCommand.RunAsync(settings, json, error, false, CancellationToken.None);
        var report = JsonSerializer.Deserialize(json.ToString(), ProbeJsonContext.Default.ProbeReport)!;
        using var text = new StringWriter();
        new ProbeReportWriter(text, false).Write(report);
        output.WriteLine(text.ToString());
        if (showJson)
        {
            output.WriteLine(json.ToString());
        }

        return (exit, report, text.ToString());
    }

    [InteropFact]
    public async Task Probe_sees_what_openssl_and_posttls_finger_see()
    {
        const string name = "mx1.probe.test";
        var certificate = Pki.IssueServer(name, name, "smtp.probe.test", Mx1);
        using var postfix = PostfixInstance.StartNew(new PostfixOptions("probe-mx1", Mx1) { Hostname = name, ServerTls = PostfixServerTls.For(certificate) });

        var (exit, report, text) = await ProbeAsync($"[{Mx1}]:25", Pki.RootCertificatePath, expect: [name]);
        var openssl = await OpenSslClient.ShowCertsAsync(Mx1, 25, Mx1, starttls: true, caFile: Pki.RootCertificatePath);
        var finger = await PostTlsFinger.RunAsync(Mx1, 25, "secure", Pki.RootCertificatePath, [name]);

        Assert.True(exit == 0, text);
        var host = Assert.Single(report.Hosts);
        Assert.True(openssl.HandshakeSucceeded, openssl.Process.Describe());
        Assert.True(finger.Verified, finger.Output);

        // The chain as presented: same certificates, same order, as openssl shows them.
        Assert.Equal(openssl.PresentedChain.Select(c => c.Pem.Trim()).ToArray(), host.PresentedChain.Select(c => c.Pem.Trim()).ToArray());
        Assert.Equal([name, "smtp.probe.test"], host.PresentedChain[0].DnsNames);
        Assert.Equal([Mx1], host.PresentedChain[0].IpAddresses);
        Assert.Equal("RSA", host.PresentedChain[0].KeyType);
        Assert.Equal(2048, host.PresentedChain[0].KeySize);

        // Protocol and cipher as both tools report them.
        Assert.Equal(openssl.Protocol, host.Tls!.Protocol);
        Assert.Equal(finger.Protocol, host.Tls.Protocol);
        Assert.Equal(openssl.Cipher, host.Tls.CipherSuiteOpenSsl);
        Assert.Equal(finger.Cipher, host.Tls.CipherSuiteOpenSsl);

        // Fingerprints of the certificate and of its public key, as posttls-finger prints them.
        var line = Regex.Match(finger.Output, @"fingerprint=([0-9A-F:]+), pkey_fingerprint=([0-9A-F:]+)");
        Assert.True(line.Success, finger.Output);
        Assert.Equal(line.Groups[1].Value, CertificateInspector.WithColons(host.PresentedChain[0].Sha256));
        Assert.Equal(line.Groups[2].Value, CertificateInspector.WithColons(host.PresentedChain[0].PublicKeySha256));
        var x509 = await ExternalProcess.RunAsync("openssl", ["x509", "-noout", "-fingerprint", "-sha256", "-serial"], standardInput: openssl.Leaf!.Pem);
        Assert.Contains($"={CertificateInspector.WithColons(host.PresentedChain[0].Sha256)}", x509.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"serial={host.PresentedChain[0].SerialNumber}", x509.StandardOutput, StringComparison.Ordinal);

        // Postfix's banner and extensions, and the verdicts.
        Assert.StartsWith($"{name} ESMTP", host.Banner!.Lines[0], StringComparison.Ordinal);
        Assert.True(host.Hello!.StartTls);
        Assert.True(host.Hello.Pipelining);
        Assert.False(host.HelloAfterTls!.StartTls);
        Assert.True(host.BuiltChain!.Trusted);
        Assert.All(host.Verdicts, v => Assert.True(v.Passed, $"{v.Level} {v.Name}: {v.Reason}"));
        Assert.Contains($"{name} (expect) matches via {name}", text, StringComparison.Ordinal);

        // A name the certificate does not carry: posttls-finger refuses, the probe fails with the names.
        var wrong = await ProbeAsync($"[{Mx1}]:25", Pki.RootCertificatePath, expect: ["mail.other.test"]);
        var fingerWrong = await PostTlsFinger.RunAsync(Mx1, 25, "secure", Pki.RootCertificatePath, ["mail.other.test"]);
        Assert.Equal(1, wrong.Exit);
        Assert.False(fingerWrong.Verified);
        Assert.Contains("certificate names [mx1.probe.test, smtp.probe.test] do not match mail.other.test", wrong.Text, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task Untrusted_and_expired_chains_fail_like_posttls_finger_says()
    {
        var rogue = Pki.IssueFromRogueCa("mx2.probe.test");
        using (var postfix = PostfixInstance.StartNew(new PostfixOptions("probe-rogue", Mx2) { Hostname = "mx2.probe.test", ServerTls = PostfixServerTls.For(rogue) }))
        {
            var (exit, report, text) = await ProbeAsync($"[{Mx2}]:25", Pki.RootCertificatePath, expect: ["mx2.probe.test"]);
            var finger = await PostTlsFinger.RunAsync(Mx2, 25, "secure", Pki.RootCertificatePath, ["mx2.probe.test"]);
            Assert.Equal("Untrusted", finger.Trust);
            Assert.Equal(1, exit);
            Assert.Contains("chain does not reach a trusted root (issuer \"Rogue Root CA\")", report.Hosts[0].BuiltChain!.Problem, StringComparison.Ordinal);
            Assert.True(report.Hosts[0].Verdicts.Single(v => v.Level == "EncryptionOnly").Passed, text);
        }

        var expired = Pki.IssueExpired("mx3.probe.test");
        using (var postfix = PostfixInstance.StartNew(new PostfixOptions("probe-expired", Mx3) { Hostname = "mx3.probe.test", ServerTls = PostfixServerTls.For(expired) }))
        {
            var (exit, report, text) = await ProbeAsync($"[{Mx3}]:25", Pki.RootCertificatePath, expect: ["mx3.probe.test"]);
            Assert.Equal(1, exit);
            Assert.True(report.Hosts[0].PresentedChain[0].Expired, text);
            Assert.StartsWith("certificate expired ", report.Hosts[0].BuiltChain!.Problem, StringComparison.Ordinal);
            Assert.Contains("EXPIRED", text, StringComparison.Ordinal);
        }
    }

    [InteropFact]
    public async Task Version_scan_reports_accepted_and_untestable_versions()
    {
        var certificate = Pki.IssueServer("mx1.probe.test");
        using var postfix = PostfixInstance.StartNew(new PostfixOptions("probe-versions", Mx1) { Hostname = "mx1.probe.test", ServerTls = PostfixServerTls.For(certificate) });

        var (_, report, text) = await ProbeAsync($"[{Mx1}]:25", Pki.RootCertificatePath, versions: true, ciphers: true);

        var versions = report.Hosts[0].Versions!.ToDictionary(v => v.Protocol, v => v.Result);
        Assert.Equal("accepted", versions["TLSv1.2"]);
        Assert.Equal("accepted", versions["TLSv1.3"]);
        Assert.Contains(versions["TLSv1"], new[] { "rejected", "notTestableHere" });
        var suites = report.Hosts[0].CipherSuites!;
        Assert.Null(suites.Error);
        Assert.Contains(suites.Accepted, s => s.CipherSuite == "TLS_AES_256_GCM_SHA384");
        Assert.Contains(suites.Accepted, s => s.CipherSuite == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
        Assert.Contains("version", text, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task Domain_target_probes_its_MX_hosts_through_unbound_and_a_dead_host_costs_only_its_timeout()
    {
        var certificate = Pki.IssueServer("mx1.probe.test");
        using var postfix = PostfixInstance.StartNew(new PostfixOptions("probe-domain", Mx1) { Hostname = "mx1.probe.test", ServerTls = PostfixServerTls.For(certificate) });
        LoopbackAddresses.Ensure(Mx3);
        // mx3 accepts TCP connections (the kernel's backlog) and never greets.
        var silent = new TcpListener(IPAddress.Parse(Mx3), 25);
        silent.Start();
        using var unbound = Unbound.Start(
            "local-data: \"probe.test. MX 10 mx1.probe.test.\"",
            "local-data: \"probe.test. MX 20 mx2.probe.test.\"",
            "local-data: \"probe.test. MX 30 mx3.probe.test.\"",
            $"local-data: \"mx1.probe.test. A {Mx1}\"",
            $"local-data: \"mx2.probe.test. A {Mx2}\"",
            $"local-data: \"mx3.probe.test. A {Mx3}\"");
        try
        {
            var watch = Stopwatch.StartNew();
            var (exit, report, text) = await ProbeAsync("probe.test", Pki.RootCertificatePath, dns: unbound.Endpoint, timeout: 3, showJson: true);
            watch.Stop();

            Assert.Equal(2, exit);
            Assert.Equal(["mx1.probe.test", "mx2.probe.test", "mx3.probe.test"], report.Hosts.Select(h => h.Host).ToArray());
            Assert.Equal([10, 20, 30], report.Dns!.Mx.Select(m => m.Preference).ToArray());
            Assert.Equal("pass", report.Hosts[0].Status);
            Assert.Equal("mx1.probe.test", report.Hosts[0].Names.Single(n => n.Source == "host").MatchedBy);
            Assert.Null(report.Hosts[0].Names.Single(n => n.Source == "domain").MatchedBy);
            Assert.Equal("connect", report.Hosts[1].Error!.Stage);
            Assert.True(report.Hosts[2].Error!.Timeout, text);
            // Concurrent: the silent host costs one banner timeout, not the sum of every host's.
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"{watch.Elapsed}\n{text}");

            var missing = await ProbeAsync("nowhere.probe.test", Pki.RootCertificatePath, dns: unbound.Endpoint, timeout: 3);
            Assert.Equal(2, missing.Exit);
            Assert.Contains("does not exist", missing.Report.Dns!.Error, StringComparison.Ordinal);
        }
        finally
        {
            silent.Stop();
        }
    }

    /// <summary>unbound answering a private zone "probe.test." on 127.0.0.1 and a free port.</summary>
    private sealed class Unbound : IDisposable
    {
        private readonly Process _process;
        private readonly string _directory;

        private Unbound(Process process, string directory, int port)
        {
            _process = process;
            _directory = directory;
            Endpoint = $"127.0.0.1:{port}";
        }

        public string Endpoint { get; }

        public static Unbound Start(params string[] localData)
        {
            var directory = Directory.CreateTempSubdirectory("postern-unbound-").FullName;
            var port = FreeUdpPort();
            var configuration = string.Join('\n',
                "server:",
                "  interface: 127.0.0.1",
                $"  port: {port}",
                "  do-daemonize: no",
                "  username: \"\"",
                "  chroot: \"\"",
                $"  directory: \"{directory}\"",
                $"  pidfile: \"{directory}/unbound.pid\"",
                "  use-syslog: no",
                "  logfile: \"\"",
                "  do-ip6: no",
                "  module-config: \"iterator\"",
                "  access-control: 127.0.0.0/8 allow",
                "  local-zone: \"probe.test.\" static",
                string.Join('\n', localData.Select(d => "  " + d))) + "\n";
            var file = Path.Combine(directory, "unbound.conf");
            File.WriteAllText(file, configuration);
            var process = Process.Start(new ProcessStartInfo(InteropTools.Require("unbound"), ["-d", "-c", file])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            var unbound = new Unbound(process, directory, port);
            unbound.WaitUntilAnswering();
            return unbound;
        }

        private void WaitUntilAnswering()
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (DateTime.UtcNow < deadline)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"unbound exited: {_process.StandardError.ReadToEnd()}");
                }

                var dig = ExternalProcess.Run("dig", "@127.0.0.1", "-p", Endpoint.Split(':')[1], "+short", "+time=1", "+tries=1", "probe.test", "MX");
                if (dig.ExitCode == 0 && dig.StandardOutput.Contains("mx1.probe.test", StringComparison.Ordinal))
                {
                    return;
                }

                Thread.Sleep(200);
            }

            throw new TimeoutException("unbound did not answer within 20 s");
        }

        private static int FreeUdpPort()
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)socket.LocalEndPoint!).Port;
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }

            _process.Dispose();
            Directory.Delete(_directory, recursive: true);
        }
    }
}
