using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Postern.Delivery;
using Postern.Probing;
using Postern.Tests.Support;
using Postern.Tls;

namespace Postern.Tests.Probing;

/// <summary>Broken and hostile servers: each gives a clear message for that host, never a crash or a hang.</summary>
public sealed class HostileServerTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);
    private readonly TempDirectory _directory = new("postern-probe-hostile");
    private readonly TestCertificateAuthority _ca;
    private readonly X509Certificate2 _serverCertificate;

    public HostileServerTests()
    {
        _ca = new TestCertificateAuthority(_directory.Combine("ca"));
        _serverCertificate = _ca.Issue("fake", "fake.example.test", ["fake.example.test"]).Certificate;
    }

    public void Dispose() => _directory.Dispose();

    private ProbeOptions Options(FakeSmtpPeer peer) => new()
    {
        Target = ProbeTarget.Parse(peer.Target, null, false, out _)!,
        Trust = new TrustPolicy(false, [_ca.Root]),
        Timeout = Timeout,
        ServerName = "fake.example.test",
    };

    private async Task<HostReport> ProbeAsync(FakeSmtpPeer peer)
    {
        var watch = Stopwatch.StartNew();
        var report = await new SmtpProbe(Options(peer)).RunAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(watch.Elapsed < Timeout * 4, $"took {watch.Elapsed}");
        return Assert.Single(report.Hosts);
    }

    [Fact]
    public async Task Garbage_banner_is_quoted_in_a_protocol_error()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("HTTP/1.1 400 Bad Request\r\nServer: \u001b[31mnginx\r\n\r\n", ct);
            await Task.Delay(Timeout * 2, ct);
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("error", host.Status);
        Assert.Equal("banner", host.Error!.Stage);
        Assert.Contains("not valid SMTP", host.Error.Message, StringComparison.Ordinal);
        Assert.Contains("\"HTTP/1.1 400 Bad Request\\r\\n", host.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Endless_multiline_banner_stops_at_the_line_limit()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            while (true)
            {
                await c.SendAsync("220-still greeting you\r\n", ct);
            }
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("banner", host.Error!.Stage);
        Assert.Contains("too many reply lines", host.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Endless_banner_line_stops_at_the_length_limit()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 ", ct);
            var chunk = new string('x', 1024);
            while (true)
            {
                await c.SendAsync(chunk, ct);
            }
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("banner", host.Error!.Stage);
        Assert.Contains("reply line too long", host.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Silent_server_costs_the_timeout_and_says_so()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) => await Task.Delay(Timeout * 3, ct));

        var host = await ProbeAsync(peer);

        Assert.Equal("banner", host.Error!.Stage);
        Assert.True(host.Error.Timeout);
        Assert.Contains("no complete reply for the banner within 3 s", host.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Huge_EHLO_reply_is_refused()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 fake.example.test ESMTP\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("250-fake.example.test\r\n", ct);
            for (var i = 0; i < 100_000; i++)
            {
                await c.SendAsync($"250-X-EXTENSION-{i}\r\n", ct);
            }
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("hello", host.Error!.Stage);
        Assert.Contains("too many reply lines", host.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task STARTTLS_refused_with_454_fails_the_policy_with_the_reply()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 fake.example.test ESMTP\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("250-fake.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n", ct);
            Assert.Equal("STARTTLS", await c.ReadLineAsync(ct));
            await c.SendAsync("454 4.7.0 TLS not available due to local problem\r\n", ct);
            Assert.Equal("QUIT", await c.ReadLineAsync(ct));
            await c.SendAsync("221 2.0.0 Bye\r\n", ct);
        });

        var host = await ProbeAsync(peer);

        Assert.Null(host.Error);
        Assert.Equal("policyFailed", host.Status);
        Assert.Equal("refused", host.StartTls!.Outcome);
        Assert.Equal(454, host.StartTls.Reply!.Code);
        var encryption = host.Verdicts.Single(v => v.Level == "EncryptionOnly");
        Assert.False(encryption.Passed);
        Assert.Equal("STARTTLS refused: 454 4.7.0 TLS not available due to local problem", encryption.Reason);
    }

    [Fact]
    public async Task STARTTLS_not_offered_fails_the_policy()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 fake.example.test ESMTP\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("250-fake.example.test\r\n250 PIPELINING\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("221 Bye\r\n", ct);
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("notOffered", host.StartTls!.Outcome);
        Assert.Equal("policyFailed", host.Status);
        Assert.Equal("STARTTLS not offered", host.Verdicts.Single(v => v.Level == "CertificateValidation").Reason);
    }

    [Fact]
    public async Task Replies_injected_after_the_220_to_STARTTLS_are_discarded()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 fake.example.test ESMTP\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("250-fake.example.test\r\n250 STARTTLS\r\n", ct);
            await c.ReadLineAsync(ct);
            // One write, so that both replies arrive together before the client starts TLS.
            await c.SendAsync("220 2.0.0 Ready to start TLS\r\n250 injected\r\n", ct);
            var tls = new SslStream(c.Network, leaveInnerStreamOpen: true);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _serverCertificate }, ct);
            c.Stream = tls;
            Assert.StartsWith("EHLO ", await c.ReadLineAsync(ct), StringComparison.Ordinal);
            await c.SendAsync("250-real.after.tls\r\n250 8BITMIME\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("221 2.0.0 Bye\r\n", ct);
        });

        var host = await ProbeAsync(peer);

        Assert.Null(host.Error);
        Assert.Equal("established", host.StartTls!.Outcome);
        Assert.Equal("250 injected\r\n".Length, host.StartTls.DiscardedBytes);
        Assert.Equal("real.after.tls", host.HelloAfterTls!.Reply.Lines[0]);
        Assert.Equal(["8BITMIME"], host.HelloAfterTls.Extensions);
        Assert.Contains(host.Warnings, w => w.Contains("discarded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Client_connection_does_not_read_an_injected_reply_as_the_EHLO_answer()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 fake.example.test ESMTP\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("250-fake.example.test\r\n250 STARTTLS\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("220 Go ahead\r\n250-injected.example\r\n250 PIPELINING\r\n", ct);
            var tls = new SslStream(c.Network, leaveInnerStreamOpen: true);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _serverCertificate }, ct);
            c.Stream = tls;
            await c.ReadLineAsync(ct);
            await c.SendAsync("250-real.example\r\n250 SIZE 1000\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("221 Bye\r\n", ct);
        });

        var limits = SmtpClientLimits.WithTimeout(Timeout);
        await using var connection = await SmtpClientConnection.ConnectAsync(new(System.Net.IPAddress.Loopback, peer.Port), limits);
        await connection.ReadBannerAsync();
        await connection.HelloAsync("client.example");
        var reply = await connection.StartTlsAsync(new SmtpTlsClientOptions { ServerName = "fake.example.test" });
        Assert.Equal(220, reply.Code);
        Assert.Equal(SmtpClientState.Encrypted, connection.State);
        var again = await connection.HelloAsync("client.example");

        Assert.Equal("real.example", again.Lines[0]);
        Assert.False(connection.Capabilities.Pipelining);
        Assert.Equal(1000, connection.Capabilities.MaximumMessageSize);
        Assert.Equal(SmtpClientState.Ready, connection.State);
        Assert.Equal(221, (await connection.QuitAsync())!.Code);
    }

    [Fact]
    public async Task Handshake_reset_is_a_TLS_error_for_that_host()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 fake.example.test ESMTP\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("250-fake.example.test\r\n250 STARTTLS\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("220 Ready\r\n", ct);
            var hello = new byte[5];
            await c.Network.ReadExactlyAsync(hello, ct);
            c.Reset();
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("error", host.Status);
        Assert.Equal("tlsHandshake", host.Error!.Stage);
        Assert.StartsWith("TLS handshake failed: the server closed the connection during the handshake", host.Error.Message, StringComparison.Ordinal);
        Assert.Equal("failed", host.StartTls!.Outcome);
        Assert.False(host.Verdicts.Single(v => v.Level == "EncryptionOnly").Passed);
    }

    [Fact]
    public async Task Certificate_that_does_not_parse_is_a_TLS_error_for_that_host()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 fake.example.test ESMTP\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("250-fake.example.test\r\n250 STARTTLS\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("220 Ready\r\n", ct);
            await RawTls.ReadRecordAsync(c.Network, ct);
            await c.Network.WriteAsync(RawTls.ServerHelloWithGarbageCertificate(), ct);
            await Task.Delay(Timeout * 2, ct);
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("error", host.Status);
        Assert.Equal("tlsHandshake", host.Error!.Stage);
        Assert.StartsWith("TLS handshake failed: the server's certificate could not be decoded", host.Error.Message, StringComparison.Ordinal);
        Assert.False(host.Error.Timeout);
    }

    [Fact]
    public async Task Server_closing_after_banner_is_reported()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 fake.example.test ESMTP\r\n", ct);
            await c.ReadLineAsync(ct);
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("hello", host.Error!.Stage);
        Assert.Contains("closed the connection", host.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EHLO_refused_falls_back_to_HELO()
    {
        await using var peer = new FakeSmtpPeer(async (c, ct) =>
        {
            await c.SendAsync("220 old.example.test SMTP\r\n", ct);
            Assert.StartsWith("EHLO", await c.ReadLineAsync(ct), StringComparison.Ordinal);
            await c.SendAsync("502 Command not implemented\r\n", ct);
            Assert.StartsWith("HELO", await c.ReadLineAsync(ct), StringComparison.Ordinal);
            await c.SendAsync("250 old.example.test\r\n", ct);
            await c.ReadLineAsync(ct);
            await c.SendAsync("221 Bye\r\n", ct);
        });

        var host = await ProbeAsync(peer);

        Assert.Equal("HELO", host.Hello!.Command);
        Assert.Equal("notOffered", host.StartTls!.Outcome);
        Assert.Contains("HELO", host.Verdicts.Single(v => v.Level == "EncryptionOnly").Reason, StringComparison.Ordinal);
    }
}
