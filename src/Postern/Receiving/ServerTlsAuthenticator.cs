using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Postern.Tls;

namespace Postern.Receiving;

/// <summary>
/// Runs the server side of a TLS handshake: picks the certificate by SNI from the store (so an
/// organization's own certificate is presented to clients that ask for its name), applies the
/// protocol floor and cipher suites, and asks for a client certificate without ever failing the
/// handshake over it (connectors decide later). The options are built once per certificate.
/// </summary>
public sealed class ServerTlsAuthenticator
{
    private readonly ServerTlsOptionsFactory _withoutClientCertificate;
    private readonly ServerTlsOptionsFactory _askingForClientCertificate;

    public ServerTlsAuthenticator(ServerCertificateStore certificates, string minimumVersion, IReadOnlyList<string> cipherSuites)
    {
        Certificates = certificates;
        IReadOnlyList<string>? suites = cipherSuites.Count == 0 ? null : cipherSuites;
        _withoutClientCertificate = new ServerTlsOptionsFactory(certificates, minimumVersion, suites, requestClientCertificate: false);
        _askingForClientCertificate = new ServerTlsOptionsFactory(certificates, minimumVersion, suites, requestClientCertificate: true);
    }

    public ServerCertificateStore Certificates { get; }

    /// <summary>Authenticates as server; returns the SNI the client sent and the intermediates it presented with its certificate.</summary>
    public async Task<ServerHandshake> AuthenticateAsync(SslStream stream, bool requestClientCertificate, CancellationToken cancellationToken)
    {
        string? serverName = null;
        ServerTlsOptionsFactory factory = requestClientCertificate ? _askingForClientCertificate : _withoutClientCertificate;
        await stream.AuthenticateAsServerAsync(
            (s, hello, state, token) =>
            {
                serverName = string.IsNullOrEmpty(hello.ServerName) ? null : hello.ServerName;
                return factory.SelectOptionsAsync(s, hello, state, token);
            },
            null,
            cancellationToken).ConfigureAwait(false);
        return new ServerHandshake(serverName, ServerTlsOptionsFactory.TakeClientIntermediates(stream));
    }
}

public sealed record ServerHandshake(string? ServerName, X509Certificate2Collection? ClientIntermediates);
