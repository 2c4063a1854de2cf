using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Tests.Support;

namespace Postern.Tests.Delivery;

/// <summary>
/// Every outbound TLS level against a peer presenting purpose-made certificates: the outcome, the
/// enhanced status and the reason a person acts on; when the level refuses, no MAIL reaches the peer.
/// </summary>
public sealed class DeliveryAgentTlsTests : IAsyncLifetime
{
    private readonly DeliveryAgentHarness _harness = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _harness.DisposeAsync();

    private FakeSmtpServer Serve(X509Certificate2? certificate, bool intermediate = true, Func<FakeSmtpOptions, FakeSmtpOptions>? customize = null)
    {
        var options = new FakeSmtpOptions
        {
            Certificate = certificate,
            Intermediates = intermediate && certificate is not null ? [_harness.Authority.Intermediate] : [],
        };
        return new FakeSmtpServer(customize is null ? options : customize(options));
    }

    private X509Certificate2 Partner(string name = "mail.partner.test") => _harness.Authority.Issue(name, name, [name]).Certificate;

    private static string Policy(TlsLevel level) => $"connector \"{DeliveryAgentHarness.Connector}\" ({level})";

    private static async Task AssertDeliveredOverTlsAsync(FakeSmtpServer server, DeliveryAttemptResult result)
    {
        RecipientOutcome outcome = Assert.Single(result.Outcomes);
        Assert.True(outcome.Kind == RecipientOutcomeKind.Delivered, $"{outcome.Kind}: {outcome.Reply}");
        await server.WaitForAsync(s => s.Transactions.Count == 1);
        Assert.True(server.Transactions[0].Encrypted);
        Assert.NotNull(result.Tls);
        // RFC 3207 4.2: EHLO again under TLS, and the transaction follows it.
        IReadOnlyList<string> commands = server.Commands;
        Assert.Equal(["EHLO", "STARTTLS", "EHLO", "MAIL"], commands.Take(4).Select(c => c.Split(' ')[0]));
    }

    private static async Task<RecipientOutcome> AssertRefusedAsync(FakeSmtpServer server, DeliveryAttemptResult result, string status)
    {
        RecipientOutcome outcome = Assert.Single(result.Outcomes);
        Assert.Equal(RecipientOutcomeKind.Deferred, outcome.Kind);
        Assert.Equal(status, outcome.Reply.EnhancedStatus);
        Assert.True(outcome.Reply.IsLocal);
        await Task.Yield();
        Assert.False(server.ReceivedMail, string.Join(" | ", server.Commands));
        Assert.Empty(server.Transactions);
        return outcome;
    }

    [Fact]
    public async Task Domain_validation_with_the_right_name_delivers_over_tls()
    {
        await using FakeSmtpServer server = Serve(Partner());
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        await AssertDeliveredOverTlsAsync(server, result);
    }

    [Fact]
    public async Task Domain_validation_with_a_wrong_name_lists_the_presented_names_and_sends_nothing()
    {
        X509Certificate2 other = _harness.Authority.Issue("other", "mx.other.test", ["mx.other.test", "*.other.test"]).Certificate;
        await using FakeSmtpServer server = Serve(other);
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        RecipientOutcome outcome = await AssertRefusedAsync(server, result, "4.7.5");
        Assert.Equal($"certificate names [mx.other.test, *.other.test] do not match mail.partner.test ({Policy(TlsLevel.DomainValidation)})", outcome.Reply.Text);
        Assert.Contains("QUIT", server.Commands);

        // The refused host is in the attempt's facts with the certificate it presented.
        DeliveryHostAttempt attempt = Assert.Single(result.Attempts);
        Assert.Equal("127.0.0.1", attempt.Address);
        Assert.Equal(server.Port, attempt.Port);
        Assert.Equal(TlsLevel.DomainValidation, attempt.TlsLevel);
        Assert.False(attempt.Settled);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(other.RawData)), attempt.Tls!.PeerCertificateSha256);
        Assert.Equal(["mx.other.test", "*.other.test"], attempt.Tls.PeerCertificateNames);
        Assert.Equal("Trusted", attempt.Verification);
        Assert.Equal($"454 4.7.5 {outcome.Reply.Text}", attempt.Reply);
        Assert.Equal(result.HostsTried, [attempt.Detail]);
    }

    [Fact]
    public async Task A_delivered_attempt_carries_the_session_the_certificate_and_verified()
    {
        X509Certificate2 certificate = Partner();
        await using FakeSmtpServer server = Serve(certificate);
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        await AssertDeliveredOverTlsAsync(server, result);
        DeliveryHostAttempt attempt = Assert.Single(result.Attempts);
        Assert.True(attempt.Settled);
        Assert.Equal("Verified", attempt.Verification);
        Assert.Equal(result.Tls, attempt.Tls);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(certificate.RawData)), attempt.Tls!.PeerCertificateSha256);
        Assert.Equal("250 2.0.0 queued", attempt.Reply);
        Assert.True(attempt.Duration > TimeSpan.Zero);
    }

    [Theory]
    [InlineData("mail.partner.test")]
    [InlineData("partner.test")]
    [InlineData("mx1.eu.partner.test")]
    public async Task Domain_validation_with_a_wildcard_tls_domain_accepts_the_domain_and_its_subdomains(string certificateName)
    {
        await using FakeSmtpServer server = Serve(Partner(certificateName));
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "*.partner.test"));
        await AssertDeliveredOverTlsAsync(server, result);
    }

    [Fact]
    public async Task Domain_validation_with_a_wildcard_tls_domain_refuses_a_lookalike_domain()
    {
        await using FakeSmtpServer server = Serve(Partner("mail.notpartner.test"));
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "*.partner.test"));
        RecipientOutcome outcome = await AssertRefusedAsync(server, result, "4.7.5");
        Assert.StartsWith("certificate names [mail.notpartner.test] do not match *.partner.test", outcome.Reply.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_certificate_is_refused_with_its_expiry_date()
    {
        // Inside the intermediate's validity (it starts a day ago), over an hour ago.
        DateTimeOffset notAfter = DateTimeOffset.UtcNow.AddHours(-2);
        X509Certificate2 expired = _harness.Authority.Issue("expired", "mail.partner.test", ["mail.partner.test"],
            notBefore: DateTimeOffset.UtcNow.AddHours(-20), notAfter: notAfter).Certificate;
        await using FakeSmtpServer server = Serve(expired);
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        RecipientOutcome outcome = await AssertRefusedAsync(server, result, "4.7.5");
        string date = notAfter.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        Assert.StartsWith($"certificate expired {date} (\"mail.partner.test\")", outcome.Reply.Text, StringComparison.Ordinal);
        Assert.EndsWith($"({Policy(TlsLevel.DomainValidation)})", outcome.Reply.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_from_an_untrusted_root_is_refused_naming_the_issuer()
    {
        var rogue = new TestCertificateAuthority(_harness.Combine("rogue"), "Rogue CA");
        X509Certificate2 certificate = rogue.Issue("rogue-leaf", "mail.partner.test", ["mail.partner.test"]).Certificate;
        await using FakeSmtpServer server = new(new FakeSmtpOptions { Certificate = certificate, Intermediates = [rogue.Intermediate] });
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.CertificateValidation));
        RecipientOutcome outcome = await AssertRefusedAsync(server, result, "4.7.5");
        Assert.Equal($"chain does not reach a trusted root (issuer \"Rogue CA\") ({Policy(TlsLevel.CertificateValidation)})", outcome.Reply.Text);
    }

    [Fact]
    public async Task A_server_that_sends_no_intermediate_is_refused_and_told_so()
    {
        await using FakeSmtpServer server = Serve(Partner(), intermediate: false);
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        RecipientOutcome outcome = await AssertRefusedAsync(server, result, "4.7.5");
        Assert.Contains("chain does not reach a trusted root (issuer \"Postern Test Root Intermediate\")", outcome.Reply.Text, StringComparison.Ordinal);
        Assert.Contains("the server sent no intermediate certificate", outcome.Reply.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encryption_only_without_starttls_defers_with_4_7_4()
    {
        await using FakeSmtpServer server = Serve(null);
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.EncryptionOnly));
        RecipientOutcome outcome = await AssertRefusedAsync(server, result, "4.7.4");
        Assert.Equal($"TLS is required by {Policy(TlsLevel.EncryptionOnly)} but 127.0.0.1 did not offer STARTTLS", outcome.Reply.Text);
        Assert.Equal(["EHLO", "QUIT"], server.Commands.Select(c => c.Split(' ')[0]));
    }

    [Fact]
    public async Task Encryption_only_accepts_a_certificate_it_does_not_check()
    {
        var rogue = new TestCertificateAuthority(_harness.Combine("rogue"), "Rogue CA");
        X509Certificate2 certificate = rogue.Issue("rogue-leaf", "whatever.test", ["whatever.test"]).Certificate;
        await using FakeSmtpServer server = new(new FakeSmtpOptions { Certificate = certificate });
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.EncryptionOnly));
        await AssertDeliveredOverTlsAsync(server, result);
    }

    [Fact]
    public async Task A_failed_handshake_defers_with_4_7_5_and_no_plaintext_fallback()
    {
        await using FakeSmtpServer server = Serve(Partner(), customize: o => o with { BreakHandshake = true });
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.EncryptionOnly));
        RecipientOutcome outcome = await AssertRefusedAsync(server, result, "4.7.5");
        Assert.StartsWith("TLS handshake failed", outcome.Reply.Text, StringComparison.Ordinal);
        Assert.EndsWith($"({Policy(TlsLevel.EncryptionOnly)})", outcome.Reply.Text, StringComparison.Ordinal);
        Assert.Equal(1, server.Connections);
    }

    [Fact]
    public async Task Opportunistic_with_plaintext_fallback_retries_a_failed_handshake_in_plain_text_on_a_new_connection()
    {
        await using FakeSmtpServer server = Serve(Partner(), customize: o => o with { BreakHandshake = true });
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.Opportunistic) with { PlaintextFallback = true });
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        Assert.Equal(2, server.Connections);
        Assert.False(Assert.Single(server.Transactions).Encrypted);
        // Both connections are in the attempt's facts: the failed handshake, then plain text.
        Assert.Equal(2, result.Attempts.Count);
        Assert.False(result.Attempts[0].Settled);
        Assert.StartsWith("454 4.7.5 ", result.Attempts[0].Reply, StringComparison.Ordinal);
        Assert.Null(result.Attempts[0].Tls);
        Assert.True(result.Attempts[1].Settled);
        Assert.Null(result.Attempts[1].Tls);
        Assert.Equal("250 2.0.0 queued", result.Attempts[1].Reply);
    }

    [Theory]
    [InlineData(TlsLevel.Opportunistic, false)]
    [InlineData(TlsLevel.EncryptionOnly, true)]
    public async Task Without_the_fallback_or_at_a_level_that_requires_tls_a_failed_handshake_sends_nothing(TlsLevel level, bool fallback)
    {
        await using FakeSmtpServer server = Serve(Partner(), customize: o => o with { BreakHandshake = true });
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, level) with { PlaintextFallback = fallback });
        RecipientOutcome outcome = Assert.Single(result.Outcomes);
        Assert.Equal(RecipientOutcomeKind.Deferred, outcome.Kind);
        Assert.Equal("4.7.5", outcome.Reply.EnhancedStatus);
        Assert.Equal(1, server.Connections);
        Assert.False(server.ReceivedMail);
    }

    [Fact]
    public async Task A_connection_closed_after_the_banner_defers_every_recipient()
    {
        await using FakeSmtpServer server = Serve(Partner(), customize: o => o with { CloseAfterBanner = true });
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.Opportunistic));
        RecipientOutcome outcome = Assert.Single(result.Outcomes);
        Assert.Equal(RecipientOutcomeKind.Deferred, outcome.Kind);
        Assert.StartsWith("4.", outcome.Reply.EnhancedStatus, StringComparison.Ordinal);
        Assert.Contains("closed the connection", outcome.Reply.Text, StringComparison.Ordinal);
        Assert.False(server.ReceivedMail);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_pinned_certificate_fingerprint_or_public_key_delivers(bool publicKey)
    {
        X509Certificate2 certificate = Partner();
        byte[] pinned = publicKey ? SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()) : SHA256.HashData(certificate.RawData);
        await using FakeSmtpServer server = Serve(certificate);
        DeliveryRoute route = DeliveryAgentHarness.Route(server, TlsLevel.EncryptionOnly) with
        {
            CertificateFingerprints = [string.Join(':', pinned.Select(b => b.ToString("x2", CultureInfo.InvariantCulture)))],
        };
        await AssertDeliveredOverTlsAsync(server, await _harness.DeliverAsync(route));
    }

    [Fact]
    public async Task A_certificate_that_is_not_pinned_is_refused_with_its_fingerprint()
    {
        X509Certificate2 certificate = Partner();
        await using FakeSmtpServer server = Serve(certificate);
        DeliveryRoute route = DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test") with
        {
            CertificateFingerprints = [Convert.ToHexString(SHA256.HashData([1, 2, 3]))],
        };
        RecipientOutcome outcome = await AssertRefusedAsync(server, await _harness.DeliverAsync(route), "4.7.5");
        string fingerprint = Convert.ToHexString(SHA256.HashData(certificate.RawData));
        Assert.StartsWith($"certificate fingerprint {fingerprint} (public key ", outcome.Reply.Text, StringComparison.Ordinal);
        Assert.Contains("is not one of the pinned fingerprints", outcome.Reply.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Opportunistic_without_starttls_sends_in_plain_text()
    {
        await using FakeSmtpServer server = Serve(null);
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.Opportunistic));
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        Assert.Null(result.Tls);
        await server.WaitForAsync(s => s.Transactions.Count == 1);
        Assert.False(server.Transactions[0].Encrypted);
    }

    [Fact]
    public async Task Opportunistic_uses_starttls_when_offered_without_checking_the_certificate()
    {
        await using FakeSmtpServer server = Serve(Partner("unrelated.test"), intermediate: false);
        await AssertDeliveredOverTlsAsync(server, await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.Opportunistic)));
    }

    [Fact]
    public async Task None_never_uses_tls_even_when_offered()
    {
        await using FakeSmtpServer server = Serve(Partner());
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.None));
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        Assert.Null(result.Tls);
        Assert.DoesNotContain("STARTTLS", server.Commands);
        await server.WaitForAsync(s => s.Transactions.Count == 1);
        Assert.False(server.Transactions[0].Encrypted);
    }

    [Fact]
    public async Task Test_mode_delivers_despite_a_name_that_would_be_refused()
    {
        await using FakeSmtpServer server = Serve(Partner("mx.other.test"));
        DeliveryRoute route = DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test") with { TestMode = true };
        await AssertDeliveredOverTlsAsync(server, await _harness.DeliverAsync(route));
    }

    [Fact]
    public async Task Test_mode_delivers_in_plain_text_when_starttls_is_missing()
    {
        await using FakeSmtpServer server = Serve(null);
        DeliveryRoute route = DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test") with { TestMode = true };
        DeliveryAttemptResult result = await _harness.DeliverAsync(route);
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
    }

    [Fact]
    public async Task A_reply_injected_after_starttls_is_discarded_and_ehlo_is_asked_again_under_tls()
    {
        await using FakeSmtpServer server = Serve(Partner(), customize: o => o with { InjectAfterStartTls = true });
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        await AssertDeliveredOverTlsAsync(server, result);
        ReceivedTransaction transaction = server.Transactions[0];
        Assert.Equal(["bob@partner.test"], transaction.Recipients);
        Assert.Equal(DeliveryAgentHarness.Message(), transaction.Content);
    }
}
