using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Telemetry;
using Postern.Tests.Delivery;
using Postern.Tests.Support;

namespace Postern.Tests.Telemetry;

/// <summary>
/// Real deliveries to a peer with purpose-made certificates: each refusal is counted once under the
/// connector and the reason category, and every handshake under its outcome.
/// </summary>
public sealed class OutboundTlsMetricsTests : IAsyncLifetime
{
    private readonly PosternMetrics _metrics = new();
    private readonly MeterRecorder _recorder;
    private readonly DeliveryAgentHarness _harness;

    public OutboundTlsMetricsTests()
    {
        _recorder = new MeterRecorder(_metrics.Meter);
        _harness = new DeliveryAgentHarness(_metrics);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _harness.DisposeAsync();
        _recorder.Dispose();
        _metrics.Dispose();
    }

    private X509Certificate2 Partner(string name = "mail.partner.test", DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null) =>
        _harness.Authority.Issue(name + Guid.NewGuid().ToString("N")[..6], name, [name], notBefore: notBefore, notAfter: notAfter).Certificate;

    private FakeSmtpServer Serve(X509Certificate2 certificate, bool intermediate = true) =>
        new(new FakeSmtpOptions { Certificate = certificate, Intermediates = intermediate ? [_harness.Authority.Intermediate] : [] });

    private async Task<RecordedMeasurement> DeliverAndTakeFailureAsync(DeliveryRoute route)
    {
        DeliveryAttemptResult result = await _harness.DeliverAsync(route);
        RecipientOutcome outcome = Assert.Single(result.Outcomes);
        Assert.Equal(RecipientOutcomeKind.Deferred, outcome.Kind);
        Assert.Equal("4.7.5", outcome.Reply.EnhancedStatus);
        RecordedMeasurement failure = Assert.Single(_recorder.Of("postern.tls.verification.failures"));
        Assert.Equal(DeliveryAgentHarness.Connector, failure["connector"]);
        Assert.Equal(1, failure.Value);
        return failure;
    }

    private RecordedMeasurement Handshake() => Assert.Single(_recorder.Of("postern.tls.handshakes"));

    [Fact]
    public async Task A_wrong_name_is_counted_as_name_mismatch_after_a_trusted_handshake()
    {
        await using FakeSmtpServer server = Serve(Partner("mx.other.test"));
        RecordedMeasurement failure = await DeliverAndTakeFailureAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        Assert.Equal("name_mismatch", failure["reason"]);

        RecordedMeasurement handshake = Handshake();
        Assert.Equal("outbound", handshake["direction"]);
        Assert.Equal("Trusted", handshake["outcome"]);
        Assert.StartsWith("TLSv1.", handshake["version"], StringComparison.Ordinal);
        Assert.StartsWith("TLS_", handshake["cipher"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_certificate_is_counted_as_expired()
    {
        await using FakeSmtpServer server = Serve(Partner(notBefore: DateTimeOffset.UtcNow.AddHours(-20), notAfter: DateTimeOffset.UtcNow.AddHours(-2)));
        RecordedMeasurement failure = await DeliverAndTakeFailureAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        Assert.Equal("expired", failure["reason"]);
    }

    [Fact]
    public async Task A_certificate_valid_only_from_tomorrow_is_counted_as_not_yet_valid()
    {
        await using FakeSmtpServer server = Serve(Partner(notBefore: DateTimeOffset.UtcNow.AddDays(1), notAfter: DateTimeOffset.UtcNow.AddDays(30)));
        RecordedMeasurement failure = await DeliverAndTakeFailureAsync(DeliveryAgentHarness.Route(server, TlsLevel.CertificateValidation));
        Assert.Equal("not_yet_valid", failure["reason"]);
    }

    [Fact]
    public async Task A_chain_to_an_unknown_root_is_counted_as_untrusted_root_after_an_untrusted_handshake()
    {
        var rogue = new TestCertificateAuthority(_harness.Combine("rogue"), "Rogue CA");
        X509Certificate2 certificate = rogue.Issue("rogue-leaf", "mail.partner.test", ["mail.partner.test"]).Certificate;
        await using FakeSmtpServer server = new(new FakeSmtpOptions { Certificate = certificate, Intermediates = [rogue.Intermediate] });
        RecordedMeasurement failure = await DeliverAndTakeFailureAsync(DeliveryAgentHarness.Route(server, TlsLevel.CertificateValidation));
        Assert.Equal("untrusted_root", failure["reason"]);
        Assert.Equal("Untrusted", Handshake()["outcome"]);
    }

    [Fact]
    public async Task A_server_that_sends_no_intermediate_is_counted_as_missing_intermediate()
    {
        await using FakeSmtpServer server = Serve(Partner(), intermediate: false);
        RecordedMeasurement failure = await DeliverAndTakeFailureAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        Assert.Equal("missing_intermediate", failure["reason"]);
    }

    [Fact]
    public async Task A_certificate_that_is_not_pinned_is_counted_as_pin_mismatch()
    {
        await using FakeSmtpServer server = Serve(Partner());
        DeliveryRoute route = DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test") with
        {
            CertificateFingerprints = [Convert.ToHexString(SHA256.HashData([1, 2, 3]))],
        };
        RecordedMeasurement failure = await DeliverAndTakeFailureAsync(route);
        Assert.Equal("pin_mismatch", failure["reason"]);
    }

    [Fact]
    public async Task Test_mode_counts_the_failure_it_lets_through()
    {
        await using FakeSmtpServer server = Serve(Partner("mx.other.test"));
        DeliveryRoute route = DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test") with { TestMode = true };
        DeliveryAttemptResult result = await _harness.DeliverAsync(route);
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        Assert.Equal("name_mismatch", Assert.Single(_recorder.Of("postern.tls.verification.failures"))["reason"]);
    }

    [Fact]
    public async Task A_verified_delivery_counts_a_verified_handshake_and_no_failure()
    {
        await using FakeSmtpServer server = Serve(Partner());
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        Assert.Equal("Verified", Handshake()["outcome"]);
        Assert.Empty(_recorder.Of("postern.tls.verification.failures"));
    }

    [Fact]
    public async Task A_broken_handshake_is_counted_as_failed_without_version_or_cipher()
    {
        await using FakeSmtpServer server = new(new FakeSmtpOptions { Certificate = Partner(), BreakHandshake = true });
        DeliveryAttemptResult result = await _harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.EncryptionOnly));
        Assert.Equal(RecipientOutcomeKind.Deferred, Assert.Single(result.Outcomes).Kind);
        RecordedMeasurement handshake = Handshake();
        Assert.Equal("failed", handshake["outcome"]);
        Assert.Equal("none", handshake["version"]);
        Assert.Equal("none", handshake["cipher"]);
        Assert.Empty(_recorder.Of("postern.tls.verification.failures"));
    }
}
