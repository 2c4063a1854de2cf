using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Postern.Tests.Delivery;

/// <summary>What <see cref="FakeSmtpServer"/> offers and how it answers.</summary>
internal sealed record FakeSmtpOptions
{
    /// <summary>The certificate presented after STARTTLS (with its key); null: no STARTTLS in EHLO.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Sent after the leaf; empty: the server sends the leaf only (a missing intermediate).</summary>
    public IReadOnlyList<X509Certificate2> Intermediates { get; init; } = [];

    /// <summary>STARTTLS in the EHLO reply (only with a certificate).</summary>
    public bool OfferStartTls { get; init; } = true;

    /// <summary>The connection is closed right after the banner.</summary>
    public bool CloseAfterBanner { get; init; }

    /// <summary>After "220" to STARTTLS, plain text instead of a TLS handshake, then close.</summary>
    public bool BreakHandshake { get; init; }

    /// <summary>Sends "220 ready\r\n250 injected\r\n" to STARTTLS in one write (the injection class).</summary>
    public bool InjectAfterStartTls { get; init; }

    public bool Pipelining { get; init; } = true;
    public bool Chunking { get; init; }
    public bool SmtpUtf8 { get; init; } = true;
    public bool EightBitMime { get; init; } = true;

    /// <summary>SIZE in EHLO; 0 advertises SIZE with no limit, null not at all.</summary>
    public long? SizeLimit { get; init; } = 0;

    /// <summary>The reply to RCPT for an address (without brackets); null: "250 2.1.5 OK".</summary>
    public Func<string, string?> RecipientReply { get; init; } = _ => null;

    /// <summary>The reply after the message data (DATA's final or BDAT LAST); null: "250 2.0.0 queued".</summary>
    public Func<string?> DataReply { get; init; } = () => null;
}

/// <summary>One mail transaction as the server saw it.</summary>
internal sealed record ReceivedTransaction(string MailFrom, IReadOnlyList<string> Recipients, byte[] Content, bool Chunked, bool Encrypted, int Connection);

/// <summary>
/// A scripted SMTP peer on 127.0.0.1 (kernel-chosen port) for delivery tests: offers what its
/// options say, answers per command as scripted, and records every command line and every
/// transaction's content (after dot-unstuffing, or BDAT's bytes as they came).
/// </summary>
internal sealed class FakeSmtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly ConcurrentBag<Task> _sessions = [];
    private readonly ConcurrentQueue<string> _commands = new();
    private readonly ConcurrentQueue<ReceivedTransaction> _transactions = new();
    private readonly SemaphoreSlim _changed = new(0);
    private int _connections;

    public FakeSmtpServer(FakeSmtpOptions? options = null)
    {
        Options = options ?? new FakeSmtpOptions();
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>Can be replaced at any time; RCPT and data replies follow the current value (e.g. to start accepting a deferred recipient).</summary>
    public FakeSmtpOptions Options { get; set; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>As a smart host: "127.0.0.1:PORT".</summary>
    public string SmartHost => $"127.0.0.1:{Port}";

    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Every command line received, in order, all connections.</summary>
    public IReadOnlyList<string> Commands => [.. _commands];

    public IReadOnlyList<ReceivedTransaction> Transactions => [.. _transactions];

    /// <summary>Whether any MAIL command arrived (what a refused TLS policy must prevent).</summary>
    public bool ReceivedMail => _commands.Any(c => c.StartsWith("MAIL", StringComparison.OrdinalIgnoreCase));

    /// <summary>Waits until <paramref name="condition"/> holds (checked on every received command and transaction).</summary>
    public async Task WaitForAsync(Func<FakeSmtpServer, bool> condition, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (!condition(this))
        {
            try
            {
                await _changed.WaitAsync(TimeSpan.FromMilliseconds(200), deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"condition not met; commands: {string.Join(" | ", Commands)}");
            }
        }
    }

    private void Changed() => _changed.Release();

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket = await _listener.AcceptSocketAsync(_stop.Token);
                int number = Interlocked.Increment(ref _connections);
                _sessions.Add(Task.Run(() => SessionAsync(socket, number)));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task SessionAsync(Socket socket, int number)
    {
        FakeSmtpOptions options = Options;
        using var network = new NetworkStream(socket, ownsSocket: true);
        Stream stream = network;
        SslStream? tls = null;
        CancellationToken stop = _stop.Token;
        try
        {
            await WriteAsync(stream, "220 fake.peer.test ESMTP\r\n", stop);
            if (options.CloseAfterBanner) return;
            string? mailFrom = null;
            var recipients = new List<string>();
            while (true)
            {
                string? line = await ReadLineAsync(stream, stop);
                if (line is null) return;
                _commands.Enqueue(line);
                Changed();
                string verb = (line.Split(' ', 2)[0]).ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await WriteAsync(stream, Ehlo(options, tls is not null), stop);
                        mailFrom = null;
                        recipients.Clear();
                        break;
                    case "HELO":
                        await WriteAsync(stream, "250 fake.peer.test\r\n", stop);
                        break;
                    case "STARTTLS":
                        if (options.Certificate is null || !options.OfferStartTls || tls is not null)
                        {
                            await WriteAsync(stream, "502 5.5.1 not offered\r\n", stop);
                            break;
                        }
                        if (options.BreakHandshake)
                        {
                            await WriteAsync(stream, "220 2.0.0 ready\r\nthis is not a TLS server hello\r\n", stop);
                            return;
                        }
                        await WriteAsync(stream, options.InjectAfterStartTls ? "220 ready\r\n250 injected\r\n" : "220 2.0.0 ready\r\n", stop);
                        tls = new SslStream(network, leaveInnerStreamOpen: true);
                        var context = SslStreamCertificateContext.Create(options.Certificate, [.. options.Intermediates], offline: true);
                        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = context }, stop);
                        stream = tls;
                        mailFrom = null;
                        recipients.Clear();
                        break;
                    case "MAIL":
                        mailFrom = line;
                        recipients.Clear();
                        await WriteAsync(stream, "250 2.1.0 OK\r\n", stop);
                        break;
                    case "RCPT":
                        string address = Address(line);
                        // The current script, so a kept connection sees a change too.
                        string? reply = Options.RecipientReply(address);
                        if (reply is null) recipients.Add(address);
                        await WriteAsync(stream, (reply ?? "250 2.1.5 OK") + "\r\n", stop);
                        break;
                    case "DATA":
                        if (mailFrom is null || recipients.Count == 0)
                        {
                            await WriteAsync(stream, "554 5.5.1 no valid recipients\r\n", stop);
                            break;
                        }
                        await WriteAsync(stream, "354 go ahead\r\n", stop);
                        byte[] content = await ReadDataAsync(stream, stop);
                        await FinishAsync(stream, mailFrom, recipients, content, chunked: false, tls is not null, number, stop);
                        mailFrom = null;
                        recipients = [];
                        break;
                    case "BDAT":
                        string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                        byte[] chunk = new byte[long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)];
                        await stream.ReadExactlyAsync(chunk, stop);
                        if (parts.Length < 3 || !parts[2].Equals("LAST", StringComparison.OrdinalIgnoreCase))
                        {
                            // Only single-chunk transactions are expected from the client under test.
                            await WriteAsync(stream, "554 5.5.1 expected BDAT LAST\r\n", stop);
                            break;
                        }
                        await FinishAsync(stream, mailFrom ?? "", recipients, chunk, chunked: true, tls is not null, number, stop);
                        mailFrom = null;
                        recipients = [];
                        break;
                    case "RSET":
                        mailFrom = null;
                        recipients.Clear();
                        await WriteAsync(stream, "250 2.0.0 OK\r\n", stop);
                        break;
                    case "NOOP":
                        await WriteAsync(stream, "250 2.0.0 OK\r\n", stop);
                        break;
                    case "QUIT":
                        await WriteAsync(stream, "221 2.0.0 bye\r\n", stop);
                        return;
                    default:
                        await WriteAsync(stream, "500 5.5.2 unknown command\r\n", stop);
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            // The client went away or refused the handshake.
        }
        finally
        {
            if (tls is not null) await tls.DisposeAsync();
            Changed();
        }
    }

    private async Task FinishAsync(Stream stream, string mailFrom, List<string> recipients, byte[] content, bool chunked, bool encrypted, int number, CancellationToken stop)
    {
        string reply = Options.DataReply() ?? "250 2.0.0 queued";
        if (reply.StartsWith('2')) _transactions.Enqueue(new ReceivedTransaction(mailFrom, [.. recipients], content, chunked, encrypted, number));
        await WriteAsync(stream, reply + "\r\n", stop);
        Changed();
    }

    private static string Ehlo(FakeSmtpOptions options, bool encrypted)
    {
        var lines = new List<string> { "fake.peer.test greets you" };
        if (options.Pipelining) lines.Add("PIPELINING");
        if (options.SizeLimit is { } size) lines.Add(size > 0 ? $"SIZE {size}" : "SIZE");
        if (options.EightBitMime) lines.Add("8BITMIME");
        if (options.SmtpUtf8) lines.Add("SMTPUTF8");
        if (options.Chunking) lines.Add("CHUNKING");
        lines.Add("ENHANCEDSTATUSCODES");
        if (options.Certificate is not null && options.OfferStartTls && !encrypted) lines.Add("STARTTLS");
        var text = new StringBuilder();
        for (int i = 0; i < lines.Count; i++) text.Append("250").Append(i == lines.Count - 1 ? ' ' : '-').Append(lines[i]).Append("\r\n");
        return text.ToString();
    }

    private static string Address(string line)
    {
        int open = line.IndexOf('<', StringComparison.Ordinal);
        int close = line.IndexOf('>', StringComparison.Ordinal);
        return open >= 0 && close > open ? line[(open + 1)..close] : line;
    }

    private static async Task WriteAsync(Stream stream, string text, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    /// <summary>One line without its CRLF, read a byte at a time so nothing after it is consumed (STARTTLS, BDAT).</summary>
    private static async Task<string?> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        byte[]? line = await ReadRawLineAsync(stream, cancellationToken);
        return line is null ? null : Encoding.UTF8.GetString(line).TrimEnd('\r', '\n');
    }

    /// <summary>One line with its line ending, or null at the end of the stream.</summary>
    private static async Task<byte[]?> ReadRawLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            int read = await stream.ReadAsync(one, cancellationToken);
            if (read == 0) return bytes.Count == 0 ? null : [.. bytes];
            bytes.Add(one[0]);
            if (one[0] == '\n') return [.. bytes];
        }
    }

    /// <summary>The DATA content up to CRLF.CRLF, with the leading dot of stuffed lines removed (RFC 5321 4.5.2).</summary>
    private static async Task<byte[]> ReadDataAsync(Stream stream, CancellationToken cancellationToken)
    {
        var content = new MemoryStream();
        while (true)
        {
            byte[] line = await ReadRawLineAsync(stream, cancellationToken) ?? throw new IOException("connection closed in DATA");
            if (line is [(byte)'.', (byte)'\r', (byte)'\n']) return content.ToArray();
            int skip = line.Length > 0 && line[0] == '.' ? 1 : 0;
            content.Write(line, skip, line.Length - skip);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        await Task.WhenAll(_sessions).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
