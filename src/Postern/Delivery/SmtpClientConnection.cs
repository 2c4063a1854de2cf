using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Postern.Smtp;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>Where a client conversation is; moved only by <c>SmtpClientConnection.MoveTo</c>.</summary>
public enum SmtpClientState
{
    /// <summary>TCP (and, with implicit TLS, TLS) is up; no banner read yet.</summary>
    Connected,

    /// <summary>The banner was read.</summary>
    Greeted,

    /// <summary>EHLO or HELO was accepted: commands can be sent.</summary>
    Ready,

    /// <summary>STARTTLS was accepted and the handshake completed; the server expects EHLO again (RFC 3207 4.2).</summary>
    Encrypted,

    /// <summary>QUIT was sent or the connection was dropped.</summary>
    Closed,
}

/// <summary>
/// The client side of one SMTP connection: connect, banner, EHLO (HELO fallback), STARTTLS or
/// implicit TLS, commands, QUIT. Replies are values (a refusal is not an exception); a broken
/// connection, a timeout or a protocol violation throws <see cref="SmtpClientException"/>.
/// Delivery sends MAIL, RCPT and DATA through <see cref="SendCommandAsync"/> once
/// <see cref="State"/> is <see cref="SmtpClientState.Ready"/>.
/// </summary>
public sealed partial class SmtpClientConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly CountingStream _counting;
    private readonly SmtpClientLimits _limits;
    private Stream _stream;
    private PipeReader _reader;
    private SslStream? _tls;

    private SmtpClientConnection(Socket socket, SmtpClientLimits limits)
    {
        _socket = socket;
        _limits = limits;
        _network = new NetworkStream(socket, ownsSocket: true);
        _counting = new CountingStream(_network);
        _stream = _counting;
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        RemoteEndPoint = (IPEndPoint)socket.RemoteEndPoint!;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    /// <summary>The server's address.</summary>
    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>The address the connection left from.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Where the conversation is.</summary>
    public SmtpClientState State { get; private set; } = SmtpClientState.Connected;

    /// <summary>The greeting, once read.</summary>
    public SmtpReply? Banner { get; private set; }

    /// <summary>The last EHLO (or HELO) reply.</summary>
    public SmtpReply? HelloReply { get; private set; }

    /// <summary>Whether the server refused EHLO and HELO was used.</summary>
    public bool UsedHelo { get; private set; }

    /// <summary>What the last accepted EHLO offered (none after HELO).</summary>
    public SmtpCapabilities Capabilities { get; private set; } = SmtpCapabilities.None;

    /// <summary>The TLS session, when one was negotiated.</summary>
    public TlsHandshakeResult? Tls { get; private set; }

    /// <summary>Opens a TCP connection within <see cref="SmtpClientLimits.ConnectTimeout"/>, optionally from <paramref name="localAddress"/>.</summary>
    public static async Task<SmtpClientConnection> ConnectAsync(IPEndPoint remote, SmtpClientLimits limits, IPAddress? localAddress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        ArgumentNullException.ThrowIfNull(limits);
        var socket = new Socket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (localAddress is not null)
            {
                socket.Bind(new IPEndPoint(localAddress, 0));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(limits.ConnectTimeout);
            try
            {
                await socket.ConnectAsync(remote, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new SmtpClientException(SmtpClientStage.Connect, $"no connection to {Format(remote)} within {Seconds(limits.ConnectTimeout)}") { IsTimeout = true };
            }
            catch (SocketException e)
            {
                throw new SmtpClientException(SmtpClientStage.Connect, $"cannot connect to {Format(remote)}: {Describe(e)}", e);
            }

            return new SmtpClientConnection(socket, limits);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Reads the greeting (RFC 5321 4.3.1). A 554 or any other code is returned, not thrown.</summary>
    public async Task<SmtpReply> ReadBannerAsync(CancellationToken cancellationToken = default)
    {
        Expect(SmtpClientState.Connected);
        var banner = await ReadReplyAsync(SmtpClientStage.Banner, _limits.HeloTimeout, cancellationToken).ConfigureAwait(false);
        Banner = banner;
        MoveTo(SmtpClientState.Greeted);
        return banner;
    }

    /// <summary>
    /// EHLO, and HELO when EHLO is refused with 5xx (RFC 5321 3.2). On a positive reply the
    /// capabilities are parsed and the connection is ready for commands.
    /// </summary>
    public async Task<SmtpReply> HelloAsync(string clientName, CancellationToken cancellationToken = default)
    {
        if (State is not (SmtpClientState.Greeted or SmtpClientState.Encrypted or SmtpClientState.Ready))
        {
            throw new InvalidOperationException($"EHLO cannot be sent in state {State}.");
        }

        var reply = await ExchangeAsync($"EHLO {clientName}", SmtpClientStage.Hello, _limits.HeloTimeout, cancellationToken).ConfigureAwait(false);
        UsedHelo = false;
        if (reply.IsPermanent)
        {
            reply = await ExchangeAsync($"HELO {clientName}", SmtpClientStage.Hello, _limits.HeloTimeout, cancellationToken).ConfigureAwait(false);
            UsedHelo = true;
        }

        HelloReply = reply;
        if (reply.Code == 250)
        {
            Capabilities = UsedHelo ? SmtpCapabilities.None : SmtpCapabilities.Parse(reply);
            MoveTo(SmtpClientState.Ready);
        }

        return reply;
    }

    /// <summary>
    /// Sends STARTTLS; on 220 runs the handshake and returns the reply with <see cref="Tls"/> set.
    /// Anything else (e.g. 454) is returned with the connection still in plain text. The caller sends
    /// EHLO again afterwards (RFC 3207 4.2).
    /// </summary>
    public async Task<SmtpReply> StartTlsAsync(SmtpTlsClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        Expect(SmtpClientState.Ready);
        if (_tls is not null)
        {
            throw new InvalidOperationException("TLS is already active.");
        }

        await WriteLineAsync("STARTTLS", SmtpClientStage.StartTls, cancellationToken).ConfigureAwait(false);
        var (reply, leftover) = await ReadReplyCoreAsync(SmtpClientStage.StartTls, _limits.StartTlsTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.Code != 220)
        {
            return reply;
        }

        // RFC 3207 and CVE-2011-0411 (the STARTTLS injection class): whatever the server sent after its
        // 220 arrived in plain text and must not be read as the answer to the EHLO sent under TLS.
        await HandshakeAsync(options, leftover, cancellationToken).ConfigureAwait(false);
        return reply;
    }

    /// <summary>Implicit TLS (RFC 8314, port 465): the handshake right after connecting, before the banner.</summary>
    public async Task<TlsHandshakeResult> AuthenticateImplicitTlsAsync(SmtpTlsClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        Expect(SmtpClientState.Connected);
        await HandshakeAsync(options, 0, cancellationToken).ConfigureAwait(false);
        MoveTo(SmtpClientState.Connected);
        return Tls!;
    }

    /// <summary>Sends one command line (no CR or LF in it) and reads its reply.</summary>
    public Task<SmtpReply> SendCommandAsync(string command, CancellationToken cancellationToken = default)
    {
        Expect(SmtpClientState.Ready);
        return ExchangeAsync(command, SmtpClientStage.Command, _limits.CommandTimeout, cancellationToken);
    }

    /// <summary>Sends QUIT and reads the reply when the server still answers; never throws for a server that has gone.</summary>
    public async Task<SmtpReply?> QuitAsync(CancellationToken cancellationToken = default)
    {
        if (State == SmtpClientState.Closed)
        {
            return null;
        }

        try
        {
            return await ExchangeAsync("QUIT", SmtpClientStage.Quit, _limits.QuitTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (SmtpClientException)
        {
            return null;
        }
        finally
        {
            MoveTo(SmtpClientState.Closed);
        }
    }

    /// <summary>Closes the connection without QUIT.</summary>
    public async ValueTask DisposeAsync()
    {
        MoveTo(SmtpClientState.Closed);
        await _reader.CompleteAsync().ConfigureAwait(false);
        if (_tls is not null)
        {
            await _tls.DisposeAsync().ConfigureAwait(false);
        }

        await _network.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }

    private async Task HandshakeAsync(SmtpTlsClientOptions options, int discarded, CancellationToken cancellationToken)
    {
        await _reader.CompleteAsync().ConfigureAwait(false);
        IReadOnlyList<X509Certificate2> presented = [];
        var sslOptions = options.ToSslOptions((_, certificate, chain, _) =>
        {
            presented = Presented(certificate, chain);
            // Accept here; the TLS policy decides once the handshake is complete.
            return true;
        });

        var sentBefore = _counting.BytesWritten;
        var tls = new SslStream(_counting, leaveInnerStreamOpen: true);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_limits.StartTlsTimeout);
        try
        {
            await tls.AuthenticateAsClientAsync(sslOptions, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            MoveTo(SmtpClientState.Closed);
            throw new SmtpClientException(SmtpClientStage.TlsHandshake, $"TLS handshake did not complete within {Seconds(_limits.StartTlsTimeout)}") { IsTimeout = true };
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException or System.ComponentModel.Win32Exception or System.Security.Cryptography.CryptographicException)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            MoveTo(SmtpClientState.Closed);
            var nothingSent = _counting.BytesWritten == sentBefore;
            throw new SmtpClientException(SmtpClientStage.TlsHandshake, $"TLS handshake failed: {HandshakeFailure(e)}", e)
            {
                IsLocalRefusal = nothingSent,
            };
        }

        _tls = tls;
        _stream = tls;
        _reader = PipeReader.Create(tls, new StreamPipeReaderOptions(leaveOpen: true));
        Tls = new TlsHandshakeResult(TlsFacts.From(tls, string.IsNullOrEmpty(options.ServerName) ? null : options.ServerName), presented, discarded);
        if (State != SmtpClientState.Connected)
        {
            MoveTo(SmtpClientState.Encrypted);
        }
    }

    private static List<X509Certificate2> Presented(X509Certificate? certificate, X509Chain? chain)
    {
        var list = new List<X509Certificate2>();
        if (certificate is null)
        {
            return list;
        }

        var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        list.Add(leaf);
        // SslStream puts what the peer sent, in the order sent, in the chain's extra store.
        if (chain is not null)
        {
            foreach (var sent in chain.ChainPolicy.ExtraStore)
            {
                if (!sent.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
                {
                    list.Add(X509CertificateLoader.LoadCertificate(sent.RawData));
                }
            }
        }

        return list;
    }

    private async Task<SmtpReply> ExchangeAsync(string command, SmtpClientStage stage, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await WriteLineAsync(command, stage, cancellationToken).ConfigureAwait(false);
        return await ReadReplyAsync(stage, timeout, cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteLineAsync(string command, SmtpClientStage stage, CancellationToken cancellationToken)
    {
        if (command.AsSpan().IndexOfAny('\r', '\n') >= 0)
        {
            throw new ArgumentException("A command line cannot contain CR or LF.", nameof(command));
        }

        var bytes = Encoding.UTF8.GetBytes(command + "\r\n");
        try
        {
            await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            MoveTo(SmtpClientState.Closed);
            throw new SmtpClientException(stage, $"connection lost while sending {Verb(command)}: {Describe(e)}", e);
        }
    }

    private async Task<SmtpReply> ReadReplyAsync(SmtpClientStage stage, TimeSpan timeout, CancellationToken cancellationToken) =>
        (await ReadReplyCoreAsync(stage, timeout, cancellationToken).ConfigureAwait(false)).Reply;

    /// <summary>Reads one reply; also says how many bytes followed it in what has been received.</summary>
    private async Task<(SmtpReply Reply, int Leftover)> ReadReplyCoreAsync(SmtpClientStage stage, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                MoveTo(SmtpClientState.Closed);
                throw new SmtpClientException(stage, $"no complete reply {StageWhat(stage)} within {Seconds(timeout)}") { IsTimeout = true };
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                MoveTo(SmtpClientState.Closed);
                throw new SmtpClientException(stage, $"connection lost waiting {StageWhat(stage)}: {Describe(e)}", e);
            }

            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            SmtpReply? reply;
            try
            {
                if (SmtpReplyParser.TryParse(ref reader, out reply, _limits.MaxReplyLineLength, _limits.MaxReplyLines))
                {
                    var leftover = (int)Math.Min(int.MaxValue, reader.Remaining);
                    _reader.AdvanceTo(reader.Position);
                    return (reply!, leftover);
                }
            }
            catch (SmtpProtocolException e)
            {
                var sample = Sample(buffer);
                _reader.AdvanceTo(buffer.End);
                MoveTo(SmtpClientState.Closed);
                throw new SmtpClientException(stage, $"the server's reply {StageWhat(stage)} is not valid SMTP ({e.Message.TrimEnd('.').ToLowerInvariant()}): {sample}", e);
            }

            if (result.IsCompleted)
            {
                var sample = buffer.IsEmpty ? null : Sample(buffer);
                _reader.AdvanceTo(buffer.End);
                MoveTo(SmtpClientState.Closed);
                throw new SmtpClientException(stage, sample is null
                    ? $"the server closed the connection {StageWhat(stage)}"
                    : $"the server closed the connection in the middle of a reply {StageWhat(stage)}: {sample}");
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private void Expect(SmtpClientState state)
    {
        if (State != state)
        {
            throw new InvalidOperationException($"The connection is {State}, not {state}.");
        }
    }

    private void MoveTo(SmtpClientState next)
    {
        if (State == SmtpClientState.Closed)
        {
            return;
        }

        State = next;
    }

    private static string StageWhat(SmtpClientStage stage) => stage switch
    {
        SmtpClientStage.Banner => "for the banner",
        SmtpClientStage.Hello => "to EHLO/HELO",
        SmtpClientStage.StartTls => "to STARTTLS",
        SmtpClientStage.Quit => "to QUIT",
        _ => "to the command",
    };

    private static string Verb(string command)
    {
        var space = command.IndexOf(' ');
        return space < 0 ? command : command[..space];
    }

    /// <summary>The start of what the server sent, quoted, control characters escaped, at most 80 characters.</summary>
    internal static string Sample(ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, 80);
        var bytes = buffer.Slice(0, length).ToArray();
        var builder = new StringBuilder("\"");
        foreach (var b in bytes)
        {
            switch (b)
            {
                case (byte)'\r': builder.Append("\\r"); break;
                case (byte)'\n': builder.Append("\\n"); break;
                case (byte)'"': builder.Append("\\\""); break;
                case >= 0x20 and < 0x7f: builder.Append((char)b); break;
                default: builder.Append("\\x").Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)); break;
            }
        }

        builder.Append('"');
        if (buffer.Length > length)
        {
            builder.Append(System.Globalization.CultureInfo.InvariantCulture, $" (and {buffer.Length - length} more bytes)");
        }

        return builder.ToString();
    }

    private static string HandshakeFailure(Exception e)
    {
        var messages = new List<string>();
        for (var current = e; current is not null; current = current.InnerException)
        {
            var text = current.Message.Trim().TrimEnd('.');
            if (text.Length > 0 && !messages.Contains(text) && !text.Contains("see inner exception", StringComparison.OrdinalIgnoreCase))
            {
                messages.Add(text);
            }
        }

        var detail = string.Join(": ", messages);
        // OpenSSL reports a certificate it cannot decode as an ASN.1 error; say what that means.
        if (detail.Contains("ASN1", StringComparison.Ordinal) || detail.Contains("bad certificate", StringComparison.OrdinalIgnoreCase))
        {
            return $"the server's certificate could not be decoded ({detail})";
        }

        if (detail.Contains("unexpected EOF", StringComparison.OrdinalIgnoreCase) || detail.Contains("0 bytes", StringComparison.Ordinal)
            || e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset } || detail.Contains("reset", StringComparison.OrdinalIgnoreCase))
        {
            return $"the server closed the connection during the handshake ({detail})";
        }

        return detail.Length > 0 ? detail : e.GetType().Name;
    }

    private static string Describe(Exception e) => e switch
    {
        SocketException s => s.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => "connection refused",
            SocketError.ConnectionReset => "connection reset by the server",
            SocketError.HostUnreachable => "host unreachable",
            SocketError.NetworkUnreachable => "network unreachable",
            SocketError.TimedOut => "timed out",
            _ => s.Message,
        },
        IOException { InnerException: SocketException s } => Describe(s),
        _ => e.Message,
    };

    private static string Format(IPEndPoint endpoint) =>
        endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]:{endpoint.Port}" : $"{endpoint.Address}:{endpoint.Port}";

    private static string Seconds(TimeSpan span) =>
        span.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) + " s";

    /// <summary>Counts bytes written, to tell a local TLS refusal (nothing sent) from a server's.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long BytesWritten { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            BytesWritten += count;
            inner.Write(buffer, offset, count);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            BytesWritten += buffer.Length;
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            BytesWritten += count;
            return inner.WriteAsync(buffer, offset, count, cancellationToken);
        }
    }
}
