using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Smtp;
using Postern.Spool;
using Postern.Telemetry;
using Postern.Tls;
using Postern.Tracing;

namespace Postern.Receiving;

/// <summary>Where a session stands in the conversation; <see cref="SmtpServerSession"/> moves between these in one place.</summary>
internal enum SessionState
{
    /// <summary>Connected (or just restarted by STARTTLS): only EHLO/HELO start a conversation.</summary>
    Connected,
    /// <summary>After EHLO/HELO, no transaction.</summary>
    Greeted,
    /// <summary>After MAIL; RCPT, DATA and BDAT are possible.</summary>
    Transaction,
    /// <summary>Between BDAT chunks of one message.</summary>
    Chunking,
}

[Flags]
internal enum CommandFlags
{
    None = 0,
    /// <summary>Needs EHLO/HELO first.</summary>
    NeedsGreeting = 1,
    /// <summary>Changes nothing; allowed in any state.</summary>
    Harmless = 2,
}

/// <summary>
/// One SMTP conversation on the server side (RFC 5321, with RFC 3207 STARTTLS, RFC 2920
/// PIPELINING, RFC 3030 CHUNKING). It reads commands from a pipe, answers with reply values, and
/// hands accepted messages to the spool; it never talks to the delivering side.
/// </summary>
public sealed class SmtpServerSession
{
    private static readonly Dictionary<SmtpVerb, CommandFlags> CommandTable = new()
    {
        [SmtpVerb.Helo] = CommandFlags.None,
        [SmtpVerb.Ehlo] = CommandFlags.None,
        [SmtpVerb.Mail] = CommandFlags.NeedsGreeting,
        [SmtpVerb.Rcpt] = CommandFlags.NeedsGreeting,
        [SmtpVerb.Data] = CommandFlags.NeedsGreeting,
        [SmtpVerb.Bdat] = CommandFlags.NeedsGreeting,
        [SmtpVerb.Rset] = CommandFlags.Harmless,
        [SmtpVerb.Noop] = CommandFlags.Harmless,
        [SmtpVerb.Quit] = CommandFlags.Harmless,
        [SmtpVerb.Vrfy] = CommandFlags.Harmless,
        [SmtpVerb.Help] = CommandFlags.Harmless,
        [SmtpVerb.StartTls] = CommandFlags.None,
    };

    private readonly Socket _socket;
    private readonly NetworkStream _networkStream;
    private readonly ReceivingContext _context;
    private readonly ListenerSettings _listener;
    private readonly string _listenerName;
    private readonly IPEndPoint _remote;
    private readonly LimitSettings _limits;
    private readonly CommandLineReader _lineReader;
    private readonly ArrayBufferWriter<byte> _dataBuffer = new(64 * 1024);
    private readonly PosternMetrics? _metrics;

    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    private bool _mustWaitForInput;

    private SessionState _state = SessionState.Connected;
    private string? _heloName;
    private bool _extended;
    private TlsSessionFacts? _tls;
    private string? _tlsVerification;
    private ClientIdentity _identity;
    private int _badCommands;
    private int _messages;

    // The transaction (RFC 5321 3.3): MAIL, its recipients, and the chunks of a BDAT transfer.
    private MailFromCommand? _mail;
    private InboundConnector? _connector;
    private readonly List<EnvelopeRecipient> _recipients = [];
    private SpoolWriter? _chunkWriter;
    private BareLineEndingDetector _chunkLineEndings;
    private long _chunkedSize;
    private bool _chunkFailed;
    private MessageIdScanner _messageId = new();

    private CancellationToken _stopping;
    private CancellationTokenSource _session = null!;

    public SmtpServerSession(Socket socket, ReceivingContext context, ListenerSettings listener, PosternMetrics? metrics = null)
    {
        _metrics = metrics;
        _socket = socket;
        _networkStream = new NetworkStream(socket, ownsSocket: true);
        _stream = _networkStream;
        _context = context;
        _listener = listener;
        _listenerName = listener.Endpoint;
        _remote = (IPEndPoint)socket.RemoteEndPoint!;
        _limits = context.Limits;
        _lineReader = new CommandLineReader(_limits.MaxCommandLineLength);
        _identity = context.Inbound.Identify(_remote.Address, null);
        (_reader, _writer) = CreatePipes(_stream);
    }

    /// <summary>The TLS facts once a handshake has completed.</summary>
    public TlsSessionFacts? Tls => _tls;

    private ILogger Log => _context.Logger;

    private string ClientText => $"[{InboundPolicy.Normalize(_remote.Address)}]:{_remote.Port}";

    /// <summary>
    /// Runs the conversation to its end. <paramref name="stopping"/> asks the session to finish:
    /// an idle session says 421 and closes, a transaction in progress may complete.
    /// <paramref name="abort"/> ends it at once (nothing unacknowledged is kept).
    /// </summary>
    public async Task RunAsync(CancellationToken stopping, CancellationToken abort)
    {
        _stopping = stopping;
        _session = CancellationTokenSource.CreateLinkedTokenSource(abort);
        _session.CancelAfter(TimeSpan.FromSeconds(_limits.SessionTimeoutSeconds));
        try
        {
            if (_listener.Security == ListenerSecurity.ImplicitTls)
            {
                if (!await HandshakeAsync().ConfigureAwait(false)) return;
            }
            else if (await ClientTalksFirstAsync().ConfigureAwait(false))
            {
                ReceivingLog.PregreetTalker(Log, ClientText);
                await SendAndFlushAsync(Replies.PregreetTalker).ConfigureAwait(false);
                return;
            }

            await SendAsync(new SmtpReply(220, $"{_context.HostName} ESMTP Postern")).ConfigureAwait(false);
            await CommandLoopAsync().ConfigureAwait(false);
        }
        catch (SessionEndException end)
        {
            if (end.Reply is not null) await TrySendFinalAsync(end.Reply).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            ReceivingLog.ConnectionLost(Log, ClientText, e.Message);
        }
        finally
        {
            ResetTransaction();
            await CloseAsync().ConfigureAwait(false);
            _session.Dispose();
        }
    }

    private async Task<bool> ClientTalksFirstAsync()
    {
        // RFC 5321 4.3.1 / RFC 2920: a client waits for the greeting. One that talks first is a bot
        // or is trying to desynchronise the dialogue (Postfix postscreen's "pregreet" test).
        if (_limits.GreetingDelayMilliseconds > 0)
            await Task.Delay(_limits.GreetingDelayMilliseconds, _session.Token).ConfigureAwait(false);
        return _socket.Available > 0;
    }

    private async Task CommandLoopAsync()
    {
        while (true)
        {
            SmtpReply? reply;
            LineStatus status;
            SmtpCommand command;
            (status, command, reply) = await ReadCommandAsync().ConfigureAwait(false);
            if (status == LineStatus.NeedMore) return; // the client closed the connection

            if (status == LineStatus.TooLong) reply = Replies.LineTooLong;
            else if (status == LineStatus.BareLineEnding) reply = Replies.BareLineEndingInCommand;

            if (reply is not null)
            {
                await RejectAsync(reply).ConfigureAwait(false);
                continue;
            }

            if (!CommandTable.TryGetValue(command.Verb, out CommandFlags flags))
            {
                await RejectAsync(command.Verb is SmtpVerb.Unknown ? Replies.UnknownCommand : Replies.NotImplemented).ConfigureAwait(false);
                continue;
            }

            if (_state == SessionState.Chunking && command.Verb is not (SmtpVerb.Bdat or SmtpVerb.Rset or SmtpVerb.Noop or SmtpVerb.Quit))
            {
                // RFC 3030 2: between BDAT chunks only BDAT, RSET, NOOP and QUIT make sense.
                await RejectAsync(command.Verb == SmtpVerb.Data ? Replies.DataAfterBdat : new SmtpReply(503, "5.5.1", "Error: finish the BDAT transfer first")).ConfigureAwait(false);
                continue;
            }

            if ((flags & CommandFlags.NeedsGreeting) != 0 && _state == SessionState.Connected)
            {
                if (command.Verb == SmtpVerb.Bdat) await SkipChunkAsync(command.Argument).ConfigureAwait(false);
                await RejectAsync(Replies.SendHeloFirst).ConfigureAwait(false);
                continue;
            }

            bool keepGoing = await ExecuteAsync(command).ConfigureAwait(false);
            if (!keepGoing) return;
        }
    }

    private async Task<bool> ExecuteAsync(SmtpCommand command)
    {
        switch (command.Verb)
        {
            case SmtpVerb.Ehlo:
            case SmtpVerb.Helo:
                await GreetAsync(command).ConfigureAwait(false);
                return true;
            case SmtpVerb.StartTls:
                return await StartTlsAsync(command).ConfigureAwait(false);
            case SmtpVerb.Mail:
                await MailAsync(command).ConfigureAwait(false);
                return true;
            case SmtpVerb.Rcpt:
                await RcptAsync(command).ConfigureAwait(false);
                return true;
            case SmtpVerb.Data:
                await DataAsync(command).ConfigureAwait(false);
                return true;
            case SmtpVerb.Bdat:
                await BdatAsync(command).ConfigureAwait(false);
                return true;
            case SmtpVerb.Rset:
                ResetTransaction();
                if (_state != SessionState.Connected) _state = SessionState.Greeted;
                await SendAsync(Replies.Ok).ConfigureAwait(false);
                return true;
            case SmtpVerb.Noop:
                await SendAsync(Replies.Ok).ConfigureAwait(false);
                return true;
            case SmtpVerb.Vrfy:
                await SendAsync(Replies.CannotVerify).ConfigureAwait(false);
                return true;
            case SmtpVerb.Help:
                await SendAsync(Replies.HelpText).ConfigureAwait(false);
                return true;
            case SmtpVerb.Quit:
                await SendAndFlushAsync(Replies.Bye).ConfigureAwait(false);
                return false;
            default:
                await RejectAsync(Replies.NotImplemented).ConfigureAwait(false);
                return true;
        }
    }

    private async Task GreetAsync(SmtpCommand command)
    {
        string name = command.Argument;
        if (name.Length == 0 || name.Contains(' ') || name.Length > 255)
        {
            await RejectAsync(command.Verb == SmtpVerb.Ehlo ? Replies.HeloSyntax : new SmtpReply(501, "5.5.4", "Syntax: HELO hostname")).ConfigureAwait(false);
            return;
        }

        // RFC 5321 4.1.4: EHLO/HELO in the middle of a transaction resets it.
        ResetTransaction();
        _heloName = name;
        _extended = command.Verb == SmtpVerb.Ehlo;
        _state = SessionState.Greeted;
        if (!_extended)
        {
            await SendAsync(new SmtpReply(250, $"{_context.HostName}")).ConfigureAwait(false);
            return;
        }

        var lines = new List<string>(12)
        {
            _context.HostName,
            "PIPELINING",
            $"SIZE {_limits.MaxMessageSize}",
        };
        if (_listener.Security == ListenerSecurity.StartTls && _tls is null && _context.Tls is not null) lines.Add("STARTTLS");
        lines.Add("ENHANCEDSTATUSCODES");
        lines.Add("8BITMIME");
        lines.Add("SMTPUTF8");
        lines.Add("CHUNKING");
        lines.Add("DSN");
        await SendAsync(new SmtpReply(250, null, lines)).ConfigureAwait(false);
    }

    private async Task<bool> StartTlsAsync(SmtpCommand command)
    {
        if (_tls is not null)
        {
            await RejectAsync(Replies.TlsAlreadyActive).ConfigureAwait(false);
            return true;
        }
        if (_listener.Security != ListenerSecurity.StartTls || _context.Tls is null)
        {
            await RejectAsync(Replies.TlsNotAvailable).ConfigureAwait(false);
            return true;
        }
        if (command.Argument.Length > 0)
        {
            await RejectAsync(Replies.NoParametersAllowed).ConfigureAwait(false);
            return true;
        }

        await SendAndFlushAsync(Replies.ReadyToStartTls).ConfigureAwait(false);
        // RFC 3207 4.2 and the STARTTLS command-injection class (CVE-2011-0411): whatever the client
        // sent after STARTTLS in plaintext is thrown away with the old pipe, and the session forgets
        // everything said before; the client must EHLO again.
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        ResetTransaction();
        _state = SessionState.Connected;
        _heloName = null;
        _extended = false;
        return await HandshakeAsync().ConfigureAwait(false);
    }

    private async Task<bool> HandshakeAsync()
    {
        ServerTlsAuthenticator? tls = _context.Tls;
        if (tls is null) return false;
        var ssl = new SslStream(_networkStream, leaveInnerStreamOpen: false);
        _stream = ssl;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_session.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(_limits.TlsHandshakeTimeoutSeconds));
        ServerHandshake handshake;
        try
        {
            handshake = await tls.AuthenticateAsync(ssl, _listener.RequestClientCertificate, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            ReceivingLog.TlsHandshakeFailed(Log, ClientText, e.Message);
            _metrics?.Handshake(TlsDirection.Inbound, null, "failed");
            return false;
        }

        ClientCertificateIdentity? certificate = null;
        if (ssl.RemoteCertificate is { } remote)
        {
            var leaf = remote as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(remote.GetRawCertData());
            ChainVerdict verdict = _context.Trust.Verify(leaf, handshake.ClientIntermediates, serverAuth: false);
            certificate = new ClientCertificateIdentity(leaf, CertificateNames.GetDnsNames(leaf), verdict.IsTrusted, verdict.Problem);
        }

        _tls = TlsFacts.From(ssl, handshake.ServerName);
        _identity = _context.Inbound.Identify(_remote.Address, certificate);
        _tlsVerification = certificate switch { null => "Anonymous", { IsTrusted: true } => "Trusted", _ => "Untrusted" };
        _metrics?.Handshake(TlsDirection.Inbound, _tls, _tlsVerification);
        ReceivingLog.TlsEstablished(Log, _tlsVerification, InboundPolicy.Normalize(_remote.Address).ToString(), _tls, certificate?.Certificate.Subject);
        (_reader, _writer) = CreatePipes(ssl);
        _mustWaitForInput = false;
        return true;
    }

    private async Task MailAsync(SmtpCommand command)
    {
        if (_state != SessionState.Greeted)
        {
            await RejectAsync(Replies.NestedMail).ConfigureAwait(false);
            return;
        }
        if (_limits.MaxMessagesPerSession > 0 && _messages >= _limits.MaxMessagesPerSession)
            throw new SessionEndException(Replies.TooManyMessages);
        if (!SmtpPathParser.TryParseMailFrom(command.Argument, out MailFromCommand? mail, out SmtpReply? error))
        {
            TraceRejected(error!, "MAIL syntax", sender: null);
            await RejectAsync(error!).ConfigureAwait(false);
            return;
        }
        if (mail!.Size is { } declared && declared > _limits.MaxMessageSize)
        {
            SmtpReply tooBig = Replies.DeclaredSizeTooBig(_limits.MaxMessageSize);
            TraceRejected(tooBig, $"declared size {declared} over the limit", mail.Sender);
            await SendAsync(tooBig).ConfigureAwait(false);
            return;
        }
        if (mail.Body == BodyType.BinaryMime)
        {
            var binary = new SmtpReply(555, "5.5.4", "BODY=BINARYMIME is not supported");
            TraceRejected(binary, "BODY=BINARYMIME", mail.Sender);
            await SendAsync(binary).ConfigureAwait(false);
            return;
        }

        (InboundConnector? connector, SmtpReply? refusal) = _context.Inbound.CheckSender(_identity, mail.Sender, _tls is not null);
        if (refusal is not null)
        {
            ReceivingLog.SenderRefused(Log, ClientText, mail.Sender, connector?.Name ?? "", refusal.ToString());
            TraceRejected(refusal, "sender refused by the inbound policy", mail.Sender, connector: connector?.Name);
            await SendAsync(refusal).ConfigureAwait(false);
            return;
        }

        _mail = mail;
        _connector = connector;
        _state = SessionState.Transaction;
        await SendAsync(Replies.SenderOk).ConfigureAwait(false);
    }

    private async Task RcptAsync(SmtpCommand command)
    {
        if (_state != SessionState.Transaction || _mail is null)
        {
            await RejectAsync(Replies.NeedMail).ConfigureAwait(false);
            return;
        }
        if (!SmtpPathParser.TryParseRcptTo(command.Argument, _mail.SmtpUtf8, out RcptToCommand? rcpt, out SmtpReply? error))
        {
            TraceRejected(error!, "RCPT syntax", _mail.Sender);
            await RejectAsync(error!).ConfigureAwait(false);
            return;
        }
        if (_recipients.Count >= _limits.MaxRecipientsPerMessage)
        {
            TraceRejected(Replies.TooManyRecipients, "too many recipients", _mail.Sender, rcpt!.Recipient);
            await SendAsync(Replies.TooManyRecipients).ConfigureAwait(false);
            return;
        }
        SmtpReply? refusal = _context.Inbound.CheckRecipient(_identity, rcpt!.Recipient);
        if (refusal is not null)
        {
            ReceivingLog.RecipientRefused(Log, ClientText, _mail.Sender, rcpt.Recipient, refusal.ToString());
            TraceRejected(refusal, "recipient refused by the inbound policy", _mail.Sender, rcpt.Recipient);
            await SendAsync(refusal).ConfigureAwait(false);
            return;
        }
        _recipients.Add(new EnvelopeRecipient { Address = rcpt.Recipient, Notify = rcpt.Notify, OriginalRecipient = rcpt.OriginalRecipient });
        await SendAsync(Replies.RecipientOk).ConfigureAwait(false);
    }

    private async Task DataAsync(SmtpCommand command)
    {
        if (command.Argument.Length > 0)
        {
            await RejectAsync(Replies.NoParametersAllowed).ConfigureAwait(false);
            return;
        }
        if (_state != SessionState.Transaction || _mail is null)
        {
            await RejectAsync(Replies.NeedMail).ConfigureAwait(false);
            return;
        }
        if (_recipients.Count == 0)
        {
            await SendAsync(Replies.NoValidRecipients).ConfigureAwait(false);
            return;
        }

        await SendAndFlushAsync(Replies.StartMailInput).ConfigureAwait(false);

        SpoolWriter? writer = await TryStartMessageAsync().ConfigureAwait(false);
        bool storageFailed = writer is null;
        var decoder = new DotDataDecoder(_limits.MaxMessageSize);
        _messageId = new MessageIdScanner();
        _dataBuffer.ResetWrittenCount();
        try
        {
            while (true)
            {
                ReadResult result = await ReadAsync(transaction: true).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                DataStatus status = Decode(decoder, buffer, out SequencePosition consumed);
                // Whatever follows the end of data is the next command (PIPELINING): examined only up to it.
                if (status == DataStatus.Complete) _reader.AdvanceTo(consumed);
                else _reader.AdvanceTo(consumed, buffer.End);
                _mustWaitForInput = status == DataStatus.NeedMore;

                if (_dataBuffer.WrittenCount >= 32 * 1024 || status == DataStatus.Complete)
                {
                    _messageId.Inspect(_dataBuffer.WrittenSpan);
                    if (writer is not null && !storageFailed && !decoder.TooLarge && !decoder.SawBareLineEnding)
                    {
                        try
                        {
                            await writer.WriteAsync(_dataBuffer.WrittenMemory, _session.Token).ConfigureAwait(false);
                        }
                        catch (IOException e)
                        {
                            storageFailed = true;
                            ReceivingLog.SpoolWriteFailed(Log, writer.QueueId, e.Message);
                        }
                    }
                    _dataBuffer.ResetWrittenCount();
                }
                if (status == DataStatus.Complete) break;
                if (result.IsCompleted) throw new EndOfStreamException("connection closed in DATA");
            }

            SmtpReply reply = await FinishMessageAsync(writer, storageFailed, decoder.TooLarge, decoder.SawBareLineEnding).ConfigureAwait(false);
            writer = null;
            await SendAsync(reply).ConfigureAwait(false);
        }
        finally
        {
            writer?.Abort();
            if (writer is not null) await writer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private DataStatus Decode(DotDataDecoder decoder, ReadOnlySequence<byte> buffer, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        DataStatus status = decoder.Decode(ref reader, _dataBuffer);
        consumed = reader.Position;
        return status;
    }

    private async Task BdatAsync(SmtpCommand command)
    {
        if (!TryParseBdat(command.Argument, out long size, out bool last))
        {
            // The size is unknown, so the chunk cannot be skipped: the dialogue is lost (RFC 3030 2).
            throw new SessionEndException(new SmtpReply(421, "4.5.4", "Syntax: BDAT chunk-size [LAST]; closing connection"));
        }

        if (_state is not (SessionState.Transaction or SessionState.Chunking) || _mail is null)
        {
            await SkipBytesAsync(size).ConfigureAwait(false);
            await RejectAsync(Replies.NeedMail).ConfigureAwait(false);
            return;
        }
        if (_recipients.Count == 0)
        {
            await SkipBytesAsync(size).ConfigureAwait(false);
            await SendAsync(Replies.NoValidRecipients).ConfigureAwait(false);
            return;
        }

        if (_state == SessionState.Transaction)
        {
            _state = SessionState.Chunking;
            _chunkLineEndings = default;
            _chunkedSize = 0;
            _chunkWriter = await TryStartMessageAsync().ConfigureAwait(false);
            _chunkFailed = _chunkWriter is null;
            _messageId = new MessageIdScanner();
        }

        _chunkedSize += size;
        bool tooLarge = _chunkedSize > _limits.MaxMessageSize;
        long remaining = size;
        while (remaining > 0)
        {
            ReadResult result = await ReadAsync(transaction: true).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            ReadOnlySequence<byte> chunk = buffer.Slice(0, Math.Min(remaining, buffer.Length));
            _chunkLineEndings.Inspect(chunk);
            if (!_messageId.IsDone)
            {
                foreach (ReadOnlyMemory<byte> segment in chunk) _messageId.Inspect(segment.Span);
            }
            if (!tooLarge && !_chunkFailed && _chunkWriter is not null)
            {
                try
                {
                    foreach (ReadOnlyMemory<byte> segment in chunk)
                        await _chunkWriter.WriteAsync(segment, _session.Token).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    _chunkFailed = true;
                    ReceivingLog.SpoolWriteFailed(Log, _chunkWriter.QueueId, e.Message);
                }
            }
            remaining -= chunk.Length;
            _reader.AdvanceTo(chunk.End);
            _mustWaitForInput = remaining > 0;
            if (remaining > 0 && result.IsCompleted) throw new EndOfStreamException("connection closed in BDAT");
        }

        if (tooLarge)
        {
            // The message can no longer be accepted; the transaction ends here (RFC 3030 3).
            TraceRejected(Replies.MessageTooBig, "message size over the limit", _mail.Sender, queueId: _chunkWriter?.QueueId);
            ResetTransaction();
            _state = SessionState.Greeted;
            await SendAsync(Replies.MessageTooBig).ConfigureAwait(false);
            return;
        }
        if (!last)
        {
            await SendAsync(Replies.ChunkReceived(size)).ConfigureAwait(false);
            return;
        }

        _chunkLineEndings.Complete();
        SpoolWriter? writer = _chunkWriter;
        _chunkWriter = null;
        SmtpReply reply = await FinishMessageAsync(writer, _chunkFailed, tooLarge: false, _chunkLineEndings.Found).ConfigureAwait(false);
        await SendAsync(reply).ConfigureAwait(false);
    }

    private static bool TryParseBdat(string argument, out long size, out bool last)
    {
        size = 0;
        last = false;
        string[] parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is 0 or > 2) return false;
        if (parts[0].Length > 18 || !parts[0].All(char.IsAsciiDigit) || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out size)) return false;
        if (parts.Length == 2)
        {
            if (!parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)) return false;
            last = true;
        }
        return true;
    }

    private async Task SkipChunkAsync(string argument)
    {
        if (TryParseBdat(argument, out long size, out _)) await SkipBytesAsync(size).ConfigureAwait(false);
        else throw new SessionEndException(new SmtpReply(421, "4.5.4", "Syntax: BDAT chunk-size [LAST]; closing connection"));
    }

    private async Task SkipBytesAsync(long count)
    {
        while (count > 0)
        {
            ReadResult result = await ReadAsync(transaction: true).ConfigureAwait(false);
            long take = Math.Min(count, result.Buffer.Length);
            _reader.AdvanceTo(result.Buffer.GetPosition(take));
            count -= take;
            _mustWaitForInput = count > 0;
            if (count > 0 && result.IsCompleted) throw new EndOfStreamException("connection closed in BDAT");
        }
    }

    /// <summary>Opens a spool entry and writes the Received header; null when the spool cannot take it.</summary>
    private async Task<SpoolWriter?> TryStartMessageAsync()
    {
        MessageSpool spool = _context.Spool;
        string queueId = spool.NewQueueId();
        DateTimeOffset now = _context.Time.GetUtcNow();
        var envelope = new Envelope
        {
            QueueId = queueId,
            Sender = _mail!.Sender,
            Recipients = [.. _recipients],
            Body = _mail.Body,
            SmtpUtf8 = _mail.SmtpUtf8,
            Return = _mail.Return,
            EnvelopeId = _mail.EnvelopeId,
            DeclaredSize = _mail.Size,
            ClientAddress = InboundPolicy.Normalize(_remote.Address).ToString(),
            ClientPort = _remote.Port,
            HeloName = _heloName ?? "",
            Protocol = ProtocolName(),
            Listener = _listenerName,
            Connector = _connector?.Name,
            Organization = _connector?.Organization,
            Tls = _tls,
            ReceivedAt = now,
        };
        SpoolWriter? writer = null;
        try
        {
            writer = spool.CreateWriter(envelope);
            byte[] header = Encoding.UTF8.GetBytes(ReceivedHeader.Format(envelope, _context.HostName, _identity.Certificate));
            await writer.WriteAsync(header, _session.Token).ConfigureAwait(false);
            return writer;
        }
        catch (IOException e)
        {
            ReceivingLog.SpoolWriteFailed(Log, queueId, e.Message);
            if (writer is not null)
            {
                writer.Abort();
                await writer.DisposeAsync().ConfigureAwait(false);
            }
            return null;
        }
    }

    private async Task<SmtpReply> FinishMessageAsync(SpoolWriter? writer, bool storageFailed, bool tooLarge, bool bareLineEnding)
    {
        try
        {
            SmtpReply? refusal = bareLineEnding ? Replies.BareLineEndingInData
                : tooLarge ? Replies.MessageTooBig
                : storageFailed || writer is null ? Replies.StorageFailure
                : null;
            if (refusal is null)
            {
                try
                {
                    // 250 only once the message and its envelope are durable.
                    await writer!.CommitAsync(_session.Token).ConfigureAwait(false);
                    _messages++;
                    ReceivingLog.MessageQueued(Log, writer.QueueId, ClientText, _mail!.Sender, _recipients.Count, writer.Length, _tls?.Protocol ?? "none", _connector?.Name ?? "");
                    SmtpReply queued = Replies.Queued(writer.QueueId);
                    TraceReceived(writer.QueueId, writer.Length, queued);
                    return queued;
                }
                catch (IOException e)
                {
                    ReceivingLog.SpoolWriteFailed(Log, writer!.QueueId, e.Message);
                    refusal = Replies.StorageFailure;
                }
            }
            writer?.Abort();
            ReceivingLog.MessageRefused(Log, ClientText, _mail?.Sender ?? "", refusal.ToString());
            TraceRejected(refusal, bareLineEnding ? "bare line ending in the data" : tooLarge ? "message size over the limit" : "the message could not be stored",
                _mail?.Sender, queueId: writer?.QueueId);
            return refusal;
        }
        finally
        {
            if (writer is not null) await writer.DisposeAsync().ConfigureAwait(false);
            ResetTransaction();
            _state = SessionState.Greeted;
        }
    }

    /// <summary>The message is durable and 250 is about to be sent: one Received, and one Queued per recipient.</summary>
    private void TraceReceived(string queueId, long size, SmtpReply reply)
    {
        ITraceSink trace = _context.Trace;
        DateTimeOffset now = _context.Time.GetUtcNow();
        string? messageId = _messageId.MessageId;
        string sender = _mail!.Sender;
        trace.Record(WithSession(new TraceEvent
        {
            Time = now,
            Kind = TraceEventKind.Received,
            QueueId = queueId,
            MessageId = messageId,
            Sender = sender,
            Connector = _connector?.Name,
            Size = size,
            Reply = reply.ToString(),
        }));
        foreach (EnvelopeRecipient recipient in _recipients)
        {
            trace.Record(new TraceEvent
            {
                Time = now,
                Kind = TraceEventKind.Queued,
                QueueId = queueId,
                MessageId = messageId,
                Sender = sender,
                Recipient = recipient.Address,
                Connector = _connector?.Name,
            });
        }
    }

    private void TraceRejected(SmtpReply reply, string reason, string? sender, string? recipient = null, string? queueId = null, string? connector = null)
    {
        _context.Trace.Record(WithSession(new TraceEvent
        {
            Time = _context.Time.GetUtcNow(),
            Kind = TraceEventKind.Rejected,
            QueueId = queueId,
            MessageId = queueId is null ? null : _messageId.MessageId,
            Sender = sender,
            Recipient = recipient,
            Connector = connector ?? _connector?.Name,
            Reply = reply.ToString(),
            Detail = reason,
        }));
    }

    /// <summary>The client and its TLS facts, as ReceivingLog.TlsEstablished tells them.</summary>
    private TraceEvent WithSession(TraceEvent traceEvent) => traceEvent with
    {
        ClientAddress = InboundPolicy.Normalize(_remote.Address).ToString(),
        ClientName = _heloName,
        TlsProtocol = _tls?.Protocol,
        TlsCipher = _tls?.CipherSuite,
        CertificateSubject = _tls?.PeerCertificateSubject,
        CertificateNames = _tls is { PeerCertificateNames.Count: > 0 } ? _tls.PeerCertificateNames : null,
        CertificateSha256 = _tls?.PeerCertificateSha256,
        Verification = _tls is null ? null : _tlsVerification,
    };

    private string ProtocolName()
    {
        // RFC 3848 and RFC 6531 "with" protocol types.
        if (!_extended) return _tls is null ? "SMTP" : "SMTPS";
        if (_mail?.SmtpUtf8 == true) return _tls is null ? "UTF8SMTP" : "UTF8SMTPS";
        return _tls is null ? "ESMTP" : "ESMTPS";
    }

    private void ResetTransaction()
    {
        _mail = null;
        _connector = null;
        _recipients.Clear();
        if (_chunkWriter is not null)
        {
            _chunkWriter.Abort();
            _ = _chunkWriter.DisposeAsync().AsTask();
            _chunkWriter = null;
        }
        _chunkFailed = false;
        _chunkedSize = 0;
        if (_state is SessionState.Transaction or SessionState.Chunking) _state = SessionState.Greeted;
    }

    private async ValueTask RejectAsync(SmtpReply reply)
    {
        // Postfix smtpd_hard_error_limit: a client that keeps getting errors is cut off.
        if (++_badCommands >= _limits.MaxBadCommands)
            throw new SessionEndException(Replies.TooManyErrors);
        await SendAsync(reply).ConfigureAwait(false);
    }

    private async ValueTask<(LineStatus Status, SmtpCommand Command, SmtpReply? Error)> ReadCommandAsync()
    {
        while (true)
        {
            ReadResult result = await ReadAsync(transaction: _state is SessionState.Transaction or SessionState.Chunking).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            (LineStatus status, SequencePosition consumed, SmtpCommand command, SmtpReply? error) = ParseLine(buffer);
            if (status == LineStatus.NeedMore)
            {
                _reader.AdvanceTo(consumed, buffer.End);
                _mustWaitForInput = true;
                if (result.IsCompleted) return (LineStatus.NeedMore, default, null);
                continue;
            }
            _reader.AdvanceTo(consumed);
            _mustWaitForInput = false;
            return (status, command, error);
        }
    }

    private (LineStatus, SequencePosition, SmtpCommand, SmtpReply?) ParseLine(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        LineStatus status = _lineReader.TryRead(ref reader, out ReadOnlySequence<byte> line);
        SmtpCommand command = default;
        SmtpReply? error = null;
        if (status == LineStatus.Complete) SmtpCommandParser.TryParse(line, out command, out error);
        return (status, reader.Position, command, error);
    }

    /// <summary>
    /// Reads more input. Replies are written without flushing and go out here, when the session
    /// is about to wait: that is all RFC 2920 PIPELINING needs from a server.
    /// </summary>
    private async ValueTask<ReadResult> ReadAsync(bool transaction)
    {
        if (!_mustWaitForInput && _reader.TryRead(out ReadResult buffered))
        {
            if (buffered.Buffer.Length > 0 || buffered.IsCompleted) return buffered;
            _reader.AdvanceTo(buffered.Buffer.Start);
        }

        await _writer.FlushAsync(_session.Token).ConfigureAwait(false);

        using var wait = transaction
            ? CancellationTokenSource.CreateLinkedTokenSource(_session.Token)
            : CancellationTokenSource.CreateLinkedTokenSource(_session.Token, _stopping);
        wait.CancelAfter(TimeSpan.FromSeconds(_limits.CommandTimeoutSeconds));
        try
        {
            return await _reader.ReadAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping ends an idle session at once and a busy one when the grace period is over;
            // anything else that cancels a read is a timeout (per command or per session).
            bool shuttingDown = _stopping.IsCancellationRequested && (!transaction || _session.IsCancellationRequested);
            if (shuttingDown) throw new SessionEndException(Replies.ShuttingDown);
            ReceivingLog.Timeout(Log, ClientText, _state.ToString());
            throw new SessionEndException(Replies.Timeout);
        }
    }

    private ValueTask SendAsync(SmtpReply reply)
    {
        reply.WriteTo(_writer, enhancedStatusCodes: true);
        return ValueTask.CompletedTask;
    }

    private async ValueTask SendAndFlushAsync(SmtpReply reply)
    {
        reply.WriteTo(_writer, enhancedStatusCodes: true);
        await _writer.FlushAsync(_session.Token).ConfigureAwait(false);
    }

    private async Task TrySendFinalAsync(SmtpReply reply)
    {
        try
        {
            reply.WriteTo(_writer, enhancedStatusCodes: true);
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _writer.FlushAsync(bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client is gone; there is no one left to tell.
        }
    }

    private async Task CloseAsync()
    {
        try
        {
            await _reader.CompleteAsync().ConfigureAwait(false);
            await _writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }

    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) => (
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4096, leaveOpen: true)),
        PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 4096, leaveOpen: true)));

    /// <summary>Ends the session, optionally with a last reply (e.g. 421).</summary>
    private sealed class SessionEndException(SmtpReply? reply) : Exception(reply?.ToString())
    {
        public SmtpReply? Reply { get; } = reply;
    }
}
