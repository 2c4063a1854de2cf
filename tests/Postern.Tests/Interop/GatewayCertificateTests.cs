using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>
/// What <c>openssl s_client</c> and <c>posttls-finger</c> see of the real gateway: the configured
/// chain, byte for byte, and the organization's certificate when its name is asked for with SNI.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class GatewayCertificateTests(InteropEnvironment environment)
{
    private TestPki Pki => environment.Pki;

    [InteropFact]
    public async Task Openssl_without_SNI_gets_the_gateway_chain_exactly_as_configured()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);

        var probe = await OpenSslClient.ShowCertsAsync(
            InteropGateway.StartTls.Address.ToString(), InteropGateway.StartTls.Port, serverName: null, starttls: true, caFile: Pki.RootCertificatePath);

        Assert.True(probe.HandshakeSucceeded, probe.Process.Describe());
        Assert.Equal(ExpectedChain(gateway.GatewayCertificate), probe.PresentedChain.Select(c => c.Pem.Trim()).ToArray());
        Assert.Equal(InteropGateway.HostName, probe.Leaf!.CommonName);
        Assert.Equal(0, probe.VerifyReturnCode);
        Assert.Matches("^TLSv1\\.[23]$", probe.Protocol!);
    }

    [InteropFact]
    public async Task Openssl_with_the_organization_name_in_SNI_gets_the_organization_chain()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);

        var probe = await OpenSslClient.ShowCertsAsync(
            InteropGateway.StartTls.Address.ToString(), InteropGateway.StartTls.Port, InteropGateway.OrganizationName, starttls: true, caFile: Pki.RootCertificatePath);

        Assert.True(probe.HandshakeSucceeded, probe.Process.Describe());
        Assert.Equal(ExpectedChain(gateway.OrganizationCertificate), probe.PresentedChain.Select(c => c.Pem.Trim()).ToArray());
        Assert.Equal(InteropGateway.OrganizationName, probe.Leaf!.CommonName);
        Assert.Equal(0, probe.VerifyReturnCode);

        var implicitTls = await OpenSslClient.ShowCertsAsync(
            InteropGateway.ImplicitTls.Address.ToString(), InteropGateway.ImplicitTls.Port, InteropGateway.OrganizationName, starttls: false, caFile: Pki.RootCertificatePath);
        Assert.Equal(ExpectedChain(gateway.OrganizationCertificate), implicitTls.PresentedChain.Select(c => c.Pem.Trim()).ToArray());

        var unknown = await OpenSslClient.ShowCertsAsync(
            InteropGateway.StartTls.Address.ToString(), InteropGateway.StartTls.Port, "unknown.example.net", starttls: true, caFile: Pki.RootCertificatePath);
        Assert.Equal(ExpectedChain(gateway.GatewayCertificate), unknown.PresentedChain.Select(c => c.Pem.Trim()).ToArray());
    }

    [InteropFact]
    public async Task Posttls_finger_verifies_the_gateway_and_the_organization_names()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        string host = InteropGateway.StartTls.Address.ToString();
        int port = InteropGateway.StartTls.Port;

        var byDefault = await PostTlsFinger.RunAsync(host, port, "secure", Pki.RootCertificatePath, [InteropGateway.HostName]);
        Assert.True(byDefault.Verified, byDefault.Output);
        Assert.Contains($"subject_CN={InteropGateway.HostName}", byDefault.Output, StringComparison.Ordinal);

        var wrongName = await PostTlsFinger.RunAsync(host, port, "secure", Pki.RootCertificatePath, [InteropGateway.OrganizationName]);
        Assert.False(wrongName.Verified, wrongName.Output);

        var bySni = await PostTlsFinger.RunAsync(
            host, port, "secure", Pki.RootCertificatePath, [InteropGateway.OrganizationName], ["-s", InteropGateway.OrganizationName]);
        Assert.True(bySni.Verified, bySni.Output);
        Assert.Contains($"subject_CN={InteropGateway.OrganizationName}", bySni.Output, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^TLSv1\.[23]$"), bySni.Protocol!);
    }

    private static string[] ExpectedChain(IssuedCertificate certificate) =>
        Regex.Matches(File.ReadAllText(certificate.FullChainPath), "-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", RegexOptions.Singleline)
            .Select(m => m.Value.Trim())
            .ToArray();
}
