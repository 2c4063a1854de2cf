using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Postern.Tls;

namespace Postern.Receiving;

/// <summary>
/// Runs the server side of a TLS handshake: picks the certificate by SNI from the store (so an
/// organization's own certificate is presented to clients that ask for its name), applies the
/// protocol floor and cipher suites, and asks for a client certificate without ever failing the
/// handshake over it (connectors decide later).
/// </summary>
public sealed class ServerTlsAuthenticator(ServerCertificateStore certificates, SslProtocols protocols, CipherSuitesPolicy? cipherSuites)
{
    public ServerCertificateStore Certificates { get; } = certificates;

    /// <summary>Authenticates as server; returns the SNI the client sent and the intermediates it presented with its certificate.</summary>
    public async Task<ServerHandshake> AuthenticateAsync(SslStream stream, bool requestClientCertificate, CancellationToken cancellationToken)
    {
        string? serverName = null;
        X509Certificate2Collection? clientIntermediates = null;
        var options = new SslServerAuthenticationOptions
        {
            EnabledSslProtocols = protocols,
            CipherSuitesPolicy = cipherSuites,
            ClientCertificateRequired = requestClientCertificate,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            EncryptionPolicy = EncryptionPolicy.RequireEncryption,
            RemoteCertificateValidationCallback = (_, _, chain, _) =>
            {
                // Keep what the client sent; its trust is judged by the inbound policy, not here.
                if (chain is { ChainPolicy.ExtraStore.Count: > 0 })
                    clientIntermediates = [.. chain.ChainPolicy.ExtraStore];
                return true;
            },
        };
        await stream.AuthenticateAsServerAsync(
            (_, hello, _, _) =>
            {
                serverName = string.IsNullOrEmpty(hello.ServerName) ? null : hello.ServerName;
                options.ServerCertificateContext = Certificates.Select(serverName).Context;
                return ValueTask.FromResult(options);
            },
            null,
            cancellationToken).ConfigureAwait(false);
        return new ServerHandshake(serverName, clientIntermediates);
    }
}

public sealed record ServerHandshake(string? ServerName, X509Certificate2Collection? ClientIntermediates);
