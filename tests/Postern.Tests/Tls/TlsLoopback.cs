using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Postern.Tls;

namespace Postern.Tests.Tls;

/// <summary>A real TLS connection on loopback: the server side runs the factory's options, the client trusts only the test root.</summary>
internal sealed class TlsLoopback : IAsyncDisposable
{
    private TlsLoopback(SslStream client, SslStream server) => (Client, Server) = (client, server);

    public SslStream Client { get; }

    public SslStream Server { get; }

    /// <summary>The certificate the server presented.</summary>
    public X509Certificate2 Presented { get; private set; } = null!;

    /// <summary>Thumbprints of the chain the client built (leaf first) with the root as its only trust anchor and no downloads.</summary>
    public IReadOnlyList<string> Chain { get; private set; } = [];

    public SslPolicyErrors ClientErrors { get; private set; }

    public TlsSessionFacts ServerFacts { get; private set; } = null!;

    public static async Task<TlsLoopback> OpenAsync(ServerTlsOptionsFactory factory, string? serverName, X509Certificate2 root,
        SslProtocols clientProtocols = SslProtocols.None, X509Certificate2? clientCertificate = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var tcpClient = new TcpClient();
            var connect = tcpClient.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port, timeout.Token).AsTask();
            var accepted = await listener.AcceptTcpClientAsync(timeout.Token);
            await connect;
            var server = new SslStream(accepted.GetStream(), leaveInnerStreamOpen: false);
            var client = new SslStream(tcpClient.GetStream(), leaveInnerStreamOpen: false);
            var connection = new TlsLoopback(client, server);

            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                DisableCertificateDownloads = true,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.Add(root);
            var options = new SslClientAuthenticationOptions
            {
                TargetHost = serverName ?? "",
                EnabledSslProtocols = clientProtocols,
                CertificateChainPolicy = policy,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                {
                    connection.Presented = X509CertificateLoader.LoadCertificate(certificate!.GetRawCertData());
                    connection.Chain = chain!.ChainElements.Select(e => e.Certificate.Thumbprint).ToList();
                    connection.ClientErrors = errors;
                    return true;
                },
                LocalCertificateSelectionCallback = clientCertificate is null ? null : (_, _, _, _, _) => clientCertificate,
            };

            var serverTask = factory.AuthenticateAsServerAsync(server, timeout.Token);
            try
            {
                await client.AuthenticateAsClientAsync(options, timeout.Token);
                await serverTask;
            }
            catch
            {
                await connection.DisposeAsync();
                try
                {
                    await serverTask;
                }
                catch (Exception)
                {
                    // the server side fails with the client; the client's reason is the one reported
                }

                throw;
            }

            connection.ServerFacts = TlsFacts.From(server, null);
            return connection;
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>Sends bytes from the client and reads them back echoed by the server.</summary>
    public async Task<bool> PingAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var ping = "PING\r\n"u8.ToArray();
        await Client.WriteAsync(ping, timeout.Token);
        var received = new byte[ping.Length];
        await Server.ReadExactlyAsync(received, timeout.Token);
        await Server.WriteAsync(received, timeout.Token);
        var echoed = new byte[ping.Length];
        await Client.ReadExactlyAsync(echoed, timeout.Token);
        return echoed.AsSpan().SequenceEqual(ping);
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
    }
}
