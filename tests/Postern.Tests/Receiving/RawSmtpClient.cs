using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Postern.Tests.Receiving;

/// <summary>
/// A deliberately simple SMTP client for driving the server byte by byte: it sends exactly what a
/// test says (including malformed input) and reads replies with its own minimal parser.
/// </summary>
internal sealed class RawSmtpClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private Stream _stream;
    private readonly List<byte> _pending = [];

    private RawSmtpClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public SslStream? Tls => _stream as SslStream;

    public static async Task<RawSmtpClient> ConnectAsync(IPEndPoint endpoint)
    {
        var tcp = new TcpClient(endpoint.AddressFamily);
        await tcp.ConnectAsync(endpoint);
        return new RawSmtpClient(tcp);
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Reads one whole reply; returns its lines joined with "\n" (codes included).</summary>
    public async Task<string> ReadReplyAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        var lines = new List<string>();
        while (true)
        {
            string line = await ReadLineAsync(cts.Token);
            lines.Add(line);
            if (line.Length < 4 || line[3] == ' ') return string.Join("\n", lines);
        }
    }

    public async Task<int> ReadCodeAsync() => int.Parse((await ReadReplyAsync())[..3]);

    /// <summary>Sends a command line and returns the reply.</summary>
    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>True when the server closed the connection (reads end of stream within the timeout).</summary>
    public async Task<bool> IsClosedAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            var buffer = new byte[256];
            while (true)
            {
                int n = await _stream.ReadAsync(buffer, cts.Token);
                if (n == 0) return true;
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async Task StartTlsAsync(string? serverName = "localhost", X509Certificate2? clientCertificate = null, SslProtocols protocols = SslProtocols.None, X509Certificate2Collection? clientChain = null)
    {
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = serverName ?? "",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
            EnabledSslProtocols = protocols,
        };
        if (clientCertificate is not null)
        {
            options.ClientCertificateContext = SslStreamCertificateContext.Create(clientCertificate, clientChain ?? [], offline: true);
        }
        _pending.Clear();
        await ssl.AuthenticateAsClientAsync(options);
        _stream = ssl;
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[1];
        while (true)
        {
            int lf = _pending.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                string line = Encoding.UTF8.GetString(_pending.GetRange(0, lf).ToArray()).TrimEnd('\r');
                _pending.RemoveRange(0, lf + 1);
                return line;
            }
            int n = await _stream.ReadAsync(buffer, cancellationToken);
            if (n == 0) throw new EndOfStreamException("server closed the connection; pending: " + Encoding.UTF8.GetString(_pending.ToArray()));
            _pending.Add(buffer[0]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
