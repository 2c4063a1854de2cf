using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Postern.Bench;

/// <summary>A failed exchange: an unexpected reply or a broken connection.</summary>
internal sealed class BenchException(string message) : Exception(message);

/// <summary>
/// One client connection: banner, EHLO, STARTTLS, EHLO, then transactions. Replies are parsed in
/// place from one reusable buffer; only an unexpected reply is turned into a string.
/// </summary>
internal sealed class SmtpConnection : IAsyncDisposable
{
    private static readonly byte[] Ehlo = Encoding.ASCII.GetBytes("EHLO bench-client.client.test\r\n");
    private static readonly byte[] StartTls = Encoding.ASCII.GetBytes("STARTTLS\r\n");
    private static readonly byte[] Quit = Encoding.ASCII.GetBytes("QUIT\r\n");
    private static readonly byte[] Pipelining = Encoding.ASCII.GetBytes("PIPELINING");

    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[8192];
    private Stream _stream;
    private int _start;
    private int _end;
    private bool _pipelining;

    private SmtpConnection(Socket socket)
    {
        _socket = socket;
        _stream = Stream.Null;
    }

    /// <summary>Connects and runs banner, EHLO, STARTTLS (any certificate accepted), EHLO.</summary>
    public static async Task<SmtpConnection> OpenAsync(IPEndPoint server, string serverName, CancellationToken cancellationToken)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var connection = new SmtpConnection(socket);
        try
        {
            await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
            connection._stream = new NetworkStream(socket, ownsSocket: false);
            await connection.ExpectAsync(220, cancellationToken).ConfigureAwait(false);
            await connection.SendAsync(Ehlo, cancellationToken).ConfigureAwait(false);
            await connection.ExpectAsync(250, cancellationToken).ConfigureAwait(false);
            await connection.SendAsync(StartTls, cancellationToken).ConfigureAwait(false);
            await connection.ExpectAsync(220, cancellationToken).ConfigureAwait(false);
            if (connection._end != connection._start)
            {
                throw new BenchException("server sent data after 220 to STARTTLS");
            }

            var tls = new SslStream(connection._stream, leaveInnerStreamOpen: false);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                RemoteCertificateValidationCallback = static (_, _, _, _) => true,
            }, cancellationToken).ConfigureAwait(false);
            connection._stream = tls;
            Protocol = tls.SslProtocol;

            await connection.SendAsync(Ehlo, cancellationToken).ConfigureAwait(false);
            connection._pipelining = false;
            await connection.ExpectAsync(250, cancellationToken, lookForPipelining: true).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The protocol of the last handshake (for the report).</summary>
    public static SslProtocols Protocol { get; private set; }

    /// <summary>
    /// One transaction; returns the acceptance latency in <see cref="Stopwatch"/> ticks: from
    /// sending the end of data to receiving the 250.
    /// </summary>
    public async ValueTask<long> SendMessageAsync(BenchMessage message, CancellationToken cancellationToken)
    {
        if (_pipelining)
        {
            await SendAsync(message.Envelope, cancellationToken).ConfigureAwait(false);
            await ExpectAsync(250, cancellationToken).ConfigureAwait(false);
            await ExpectAsync(250, cancellationToken).ConfigureAwait(false);
            await ExpectAsync(354, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // One command at a time: split the pipelined group at its line ends.
            int from = 0;
            int[] expected = [250, 250, 354];
            for (int i = 0; i < 3; i++)
            {
                int end = Array.IndexOf(message.Envelope, (byte)'\n', from) + 1;
                await SendAsync(message.Envelope.AsMemory(from, end - from), cancellationToken).ConfigureAwait(false);
                await ExpectAsync(expected[i], cancellationToken).ConfigureAwait(false);
                from = end;
            }
        }

        long start = Stopwatch.GetTimestamp();
        await SendAsync(message.Content, cancellationToken).ConfigureAwait(false);
        await ExpectAsync(250, cancellationToken).ConfigureAwait(false);
        return Stopwatch.GetTimestamp() - start;
    }

    public async ValueTask QuitAsync(CancellationToken cancellationToken)
    {
        await SendAsync(Quit, cancellationToken).ConfigureAwait(false);
        await ExpectAsync(221, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
        _socket.Dispose();
    }

    private async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads one (possibly multi-line) reply and checks its code.</summary>
    private async ValueTask ExpectAsync(int code, CancellationToken cancellationToken, bool lookForPipelining = false)
    {
        while (true)
        {
            int lineEnd = IndexOfLineEnd();
            if (lineEnd < 0)
            {
                if (_end == _buffer.Length)
                {
                    if (_start == 0)
                    {
                        throw new BenchException("reply longer than the buffer");
                    }
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                int read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new BenchException($"connection closed while waiting for {code}");
                }
                _end += read;
                continue;
            }

            ReadOnlySpan<byte> line = _buffer.AsSpan(_start, lineEnd - _start);
            _start = lineEnd + 2;
            if (line.Length < 3)
            {
                throw new BenchException("malformed reply: " + Encoding.ASCII.GetString(line));
            }
            if (lookForPipelining && line.Length > 4 && line[4..].SequenceEqual(Pipelining))
            {
                _pipelining = true;
            }
            if (line.Length == 3 || line[3] == (byte)' ')
            {
                int actual = ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
                if (actual != code)
                {
                    throw new BenchException($"expected {code}, got: {Encoding.ASCII.GetString(line)}");
                }
                return;
            }
        }
    }

    private int IndexOfLineEnd()
    {
        int i = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
        return i < 0 ? -1 : _start + i;
    }
}
