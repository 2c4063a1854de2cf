using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Smtp;
using Postern.Spool;
using Postern.Telemetry;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>
/// Delivers some recipients of one message to their next hop: resolves the hosts, connects, applies
/// the route's TLS level (no plaintext fallback where TLS is required: QUIT before MAIL and try the
/// next host), sends the envelope and the spooled bytes exactly, and reports per recipient.
/// Idle connections are kept briefly per destination and policy for the next message.
/// </summary>
public sealed class DeliveryAgent : IAsyncDisposable
{
    /// <summary>How long an idle connection is kept for reuse (as Postfix smtp_connection_cache_time_limit, 2 s).</summary>
    public static readonly TimeSpan ConnectionReuseTime = TimeSpan.FromSeconds(2);

    private readonly string _hostName;
    private readonly MxResolver _resolver;
    private readonly Func<DeliveryRoute, TrustPolicy> _trust;
    private readonly Func<DeliveryRoute, SslStreamCertificateContext?> _clientCertificate;
    private readonly SmtpClientLimits _limits;
    private readonly IPAddress? _sourceAddress;
    private readonly ILogger _logger;
    private readonly PosternMetrics? _metrics;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<PooledConnection>> _idle = new(StringComparer.Ordinal);

    public DeliveryAgent(string hostName, MxResolver resolver, Func<DeliveryRoute, TrustPolicy> trust,
        Func<DeliveryRoute, SslStreamCertificateContext?> clientCertificate, SmtpClientLimits limits, ILogger logger, IPAddress? sourceAddress = null,
        PosternMetrics? metrics = null)
    {
        _metrics = metrics;
        _hostName = hostName;
        _resolver = resolver;
        _trust = trust;
        _clientCertificate = clientCertificate;
        _limits = limits;
        _logger = logger;
        _sourceAddress = sourceAddress;
    }

    public async Task<DeliveryAttemptResult> DeliverAsync(DeliveryJob job, Func<SpoolMessage> open, CancellationToken cancellationToken)
    {
        DeliveryRoute route = job.Route;

        // A connection kept from the previous message to this destination, under the same policy.
        if (TakeIdle(route.DestinationKey) is { } pooled)
        {
            long reuseStarted = Stopwatch.GetTimestamp();
            DateTimeOffset reuseAt = DateTimeOffset.UtcNow;
            IPEndPoint remote = pooled.Connection.RemoteEndPoint;
            HostResult reused = await TransactAsync(job, pooled.Connection, pooled.Host, pooled.Tls, open, cancellationToken).ConfigureAwait(false);
            reused = reused with { Verification = pooled.Verification };
            if (reused.Outcomes is not null)
                return Result(reused, [reused.Trace], [Describe(route, pooled.Host, remote.Address, remote.Port, reuseAt, Stopwatch.GetElapsedTime(reuseStarted), reused)]);
            // The server closed it meanwhile: start afresh below.
        }

        MxResolution resolution = route.SmartHosts.Count > 0
            ? await ResolveSmartHostsAsync(route.SmartHosts, cancellationToken).ConfigureAwait(false)
            : await _resolver.ResolveAsync(route.Domain, cancellationToken).ConfigureAwait(false);
        if (!resolution.IsSuccess)
        {
            var reply = RecordedReply.Local(resolution.IsPermanentFailure ? 550 : 451, resolution.Status ?? new EnhancedStatusCode(4, 4, 3), resolution.Error ?? "no route to the destination");
            RecipientOutcomeKind kind = resolution.IsPermanentFailure ? RecipientOutcomeKind.Failed : RecipientOutcomeKind.Deferred;
            return new DeliveryAttemptResult { Outcomes = job.Recipients.Select(i => new RecipientOutcome(i, kind, reply, null)).ToArray(), HostsTried = [reply.Text] };
        }

        var tried = new List<string>();
        var attempts = new List<DeliveryHostAttempt>();
        RecordedReply? last = null;
        string? lastMta = null;
        foreach (MxHost host in resolution.Hosts)
        {
            foreach (IPAddress address in host.Addresses)
            {
                long started = Stopwatch.GetTimestamp();
                DateTimeOffset at = DateTimeOffset.UtcNow;
                HostResult result = await TryHostAsync(job, host, address, open, cancellationToken).ConfigureAwait(false);
                tried.Add(result.Trace);
                if (result.RefusedBeforeFallback is { } refused) attempts.Add(refused);
                attempts.Add(Describe(route, host, address, host.Port ?? 25, at, Stopwatch.GetElapsedTime(started), result));
                if (result.Outcomes is not null) return Result(result, tried, attempts);
                last = result.Reply;
                lastMta = result.RemoteMta;
            }
        }

        // No host took the message: every recipient waits, with the last reason (it is what the sender reads).
        last ??= RecordedReply.Local(451, new EnhancedStatusCode(4, 4, 1), "no host could be reached");
        return new DeliveryAttemptResult
        {
            Outcomes = job.Recipients.Select(i => new RecipientOutcome(i, RecipientOutcomeKind.Deferred, last, lastMta)).ToArray(),
            RemoteMta = lastMta,
            HostsTried = tried,
            Attempts = attempts,
        };
    }

    private static DeliveryAttemptResult Result(HostResult result, IReadOnlyList<string> tried, IReadOnlyList<DeliveryHostAttempt> attempts) => new()
    {
        Outcomes = result.Outcomes!,
        RemoteMta = result.RemoteMta,
        Tls = result.Tls,
        HostsTried = tried,
        Attempts = attempts,
    };

    private static DeliveryHostAttempt Describe(DeliveryRoute route, MxHost host, IPAddress address, int port, DateTimeOffset started, TimeSpan duration, HostResult result) => new()
    {
        Host = host.Name,
        Address = address.ToString(),
        Port = port,
        TlsLevel = route.TlsLevel,
        Tls = result.Tls,
        Verification = result.Tls is null ? null : result.Verification,
        Reply = result.Reply?.ToString()
            ?? result.Outcomes?.FirstOrDefault(o => o.Kind == RecipientOutcomeKind.Delivered)?.Reply.ToString()
            ?? result.Outcomes?.LastOrDefault()?.Reply.ToString(),
        Detail = result.Trace,
        Settled = result.Outcomes is not null,
        Started = started,
        Duration = duration,
    };

    private async Task<MxResolution> ResolveSmartHostsAsync(IReadOnlyList<string> smartHosts, CancellationToken cancellationToken)
    {
        var hosts = new List<MxHost>();
        MxResolution? failure = null;
        foreach (string smartHost in smartHosts)
        {
            MxResolution resolution = await _resolver.ResolveHostAsync(smartHost, cancellationToken).ConfigureAwait(false);
            if (resolution.IsSuccess) hosts.AddRange(resolution.Hosts);
            else failure ??= resolution;
        }
        return hosts.Count > 0 ? MxResolution.Success(hosts) : failure!;
    }

    /// <summary>One host: connect, greet, apply the TLS level, then the transaction. Outcomes null: try the next host.</summary>
    private async Task<HostResult> TryHostAsync(DeliveryJob job, MxHost host, IPAddress address, Func<SpoolMessage> open, CancellationToken cancellationToken, bool plaintext = false)
    {
        DeliveryRoute route = job.Route;
        long started = Stopwatch.GetTimestamp();
        DateTimeOffset at = DateTimeOffset.UtcNow;
        int port = host.Port ?? 25;
        string mta = $"{host.Name} [{address}]";
        string where = $"{host.Name}[{address}]:{port}";
        SmtpClientConnection? connection = null;
        try
        {
            connection = await SmtpClientConnection.ConnectAsync(new IPEndPoint(address, port), _limits, _sourceAddress, cancellationToken).ConfigureAwait(false);
            SmtpReply banner = await connection.ReadBannerAsync(cancellationToken).ConfigureAwait(false);
            if (!banner.IsPositive) return await LeaveAsync(connection, mta, $"{where}: greeting {banner}", RecordedReply.FromReply(banner));
            SmtpReply hello = await connection.HelloAsync(_hostName, cancellationToken).ConfigureAwait(false);
            if (!hello.IsPositive) return await LeaveAsync(connection, mta, $"{where}: EHLO {hello}", RecordedReply.FromReply(hello));

            (TlsHandshakeResult? tls, string? refusal, string status, string? noTls, string? verification) = plaintext
                ? (null, null, "", "plaintext fallback after a failed TLS handshake", null)
                : await NegotiateTlsAsync(connection, job.QueueId, route, host, where, cancellationToken).ConfigureAwait(false);
            if (refusal is not null && tls is null && status == "4.7.5" && route.TlsLevel == TlsLevel.Opportunistic && route.PlaintextFallback)
            {
                // Opportunistic with plaintextFallback: a failed handshake is retried in plain text on a new connection (logged).
                DeliveryLog.TlsRefused(_logger, job.QueueId, where, route.Connector ?? "", refusal);
                await connection.DisposeAsync().ConfigureAwait(false);
                connection = null;
                var failed = new HostResult(null, mta, null, $"{where}: {status} {refusal}", RecordedReply.Local(454, EnhancedStatusCode.Parse(status), refusal));
                HostResult fallback = await TryHostAsync(job, host, address, open, cancellationToken, plaintext: true).ConfigureAwait(false);
                return fallback with { RefusedBeforeFallback = Describe(route, host, address, port, at, Stopwatch.GetElapsedTime(started), failed) };
            }
            if (refusal is not null)
            {
                var reply = RecordedReply.Local(454, EnhancedStatusCode.Parse(status), refusal);
                DeliveryLog.TlsRefused(_logger, job.QueueId, where, route.Connector ?? "", refusal);
                if (connection.State != SmtpClientState.Closed) await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
                connection = null;
                // The certificate that was refused is part of the record: it is what the administrator needs to see.
                return new HostResult(null, mta, tls?.Facts, $"{where}: {status} {refusal}", reply) { Verification = verification };
            }
            if (tls is null && noTls is not null) DeliveryLog.PlainText(_logger, job.QueueId, where, noTls);
            if (tls is not null)
            {
                // RFC 3207 4.2: what the server said before TLS is forgotten; EHLO again to learn what it offers now.
                SmtpReply secured = await connection.HelloAsync(_hostName, cancellationToken).ConfigureAwait(false);
                if (!secured.IsPositive) return await LeaveAsync(connection, mta, $"{where}: EHLO after STARTTLS {secured}", RecordedReply.FromReply(secured));
            }

            HostResult result = await TransactAsync(job, connection, host, tls, open, cancellationToken, verification).ConfigureAwait(false);
            connection = null; // TransactAsync keeps or closes it
            return result with { Trace = $"{where}: {result.Trace}", Verification = verification };
        }
        catch (SmtpClientException e)
        {
            return new HostResult(null, mta, null, $"{where}: {e.Message}", RecordedReply.Local(451, new EnhancedStatusCode(4, 4, e.IsTimeout ? 2 : 1), $"{where}: {e.Message}"));
        }
        catch (SmtpProtocolException e)
        {
            return new HostResult(null, mta, null, $"{where}: {e.Message}", RecordedReply.Local(451, new EnhancedStatusCode(4, 5, 0), $"{where}: protocol error: {e.Message}"));
        }
        finally
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task<HostResult> LeaveAsync(SmtpClientConnection connection, string mta, string trace, RecordedReply reply)
    {
        await connection.QuitAsync().ConfigureAwait(false);
        return new HostResult(null, mta, null, trace, reply);
    }

    /// <summary>
    /// STARTTLS as the level demands. Returns the session, or a refusal that forbids sending
    /// (never a plaintext fallback when the level requires TLS), or the reason there is no TLS
    /// when plain text is allowed.
    /// </summary>
    private async Task<(TlsHandshakeResult? Tls, string? Refusal, string Status, string? NoTls, string? Verification)> NegotiateTlsAsync(
        SmtpClientConnection connection, string queueId, DeliveryRoute route, MxHost host, string where, CancellationToken cancellationToken)
    {
        TlsLevel level = route.TlsLevel;
        // testMode: the connector's demands are checked and failures logged, but the message goes as Opportunistic would.
        bool enforce = !route.TestMode;
        bool required = level >= TlsLevel.EncryptionOnly;
        if (level == TlsLevel.None) return (null, null, "", "TLS disabled by policy", null);

        if (!connection.Capabilities.StartTls)
        {
            string reason = $"TLS is required by {Policy(route)} but {host.Name} did not offer STARTTLS";
            if (required && enforce) return (null, reason, "4.7.4", null, null);
            if (required) DeliveryLog.TestModeFailure(_logger, where, route.Connector ?? "", reason);
            return (null, null, "", "STARTTLS not offered", null);
        }

        SmtpTlsClientOptions options = TlsOptions(host, _clientCertificate(route));
        SmtpReply started;
        try
        {
            started = await connection.StartTlsAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (SmtpClientException e) when (e.Stage == SmtpClientStage.TlsHandshake)
        {
            _metrics?.Handshake(TlsDirection.Outbound, null, "failed");
            // The connection is gone after a failed handshake. There is no plaintext retry: the next
            // host is tried, and the message waits if none does better.
            return (null, $"{e.Message} ({Policy(route)})", "4.7.5", null, null);
        }
        if (!started.IsPositive || connection.Tls is null)
        {
            string reason = $"TLS is required by {Policy(route)} but {host.Name} refused STARTTLS: {started}";
            if (required && enforce) return (null, reason, "4.7.4", null, null);
            return (null, null, "", $"STARTTLS refused: {started}", null);
        }

        TlsHandshakeResult tls = connection.Tls;
        TrustPolicy trust = _trust(route);
        (TlsPolicyVerdict verdict, string? problem) = CheckCertificate(route, host, tls, trust);
        string verification = TrustWord(level, verdict, tls, trust);
        _metrics?.Handshake(TlsDirection.Outbound, tls.Facts, verification);
        DeliveryLog.TlsEstablished(_logger, queueId, verification, where, tls.Facts);
        if (problem is not null)
        {
            // Counted in test mode too: that is how a connector's demands are tried before they are enforced.
            _metrics?.VerificationFailed(route.Connector, FailureOf(verdict));
            if (enforce) return (tls, $"{problem} ({Policy(route)})", verdict.DeferralStatus ?? "4.7.5", null, verification);
            DeliveryLog.TestModeFailure(_logger, where, route.Connector ?? "", problem);
        }
        return (tls, null, "", null, verification);
    }

    private static string TrustWord(TlsLevel level, TlsPolicyVerdict verdict, TlsHandshakeResult tls, TrustPolicy trust)
    {
        // The words Postfix admins grep for: Verified (name checked), Trusted (chain), Untrusted, Anonymous.
        if (tls.Leaf is null) return "Anonymous";
        if (level == TlsLevel.DomainValidation && verdict.Passed) return "Verified";
        return new TlsPolicyEvaluator(trust).VerifyChain(tls).IsTrusted ? "Trusted" : "Untrusted";
    }

    /// <summary>The TLS client options of an attempt to a host: SNI is the host name (never an address literal).</summary>
    internal static SmtpTlsClientOptions TlsOptions(MxHost host, SslStreamCertificateContext? clientCertificate) => new()
    {
        ServerName = IPAddress.TryParse(host.Name, out _) ? null : host.Name,
        ClientCertificate = clientCertificate,
    };

    /// <summary>The name a DomainValidation certificate must match: the route's tlsDomain, else the host name.</summary>
    internal static string ExpectedName(DeliveryRoute route, MxHost host) => route.TlsDomain ?? host.Name;

    /// <summary>
    /// The route's demands on an established TLS session: its level's verdict under the trust policy
    /// with the expected name, then the pinned fingerprints when the level requires TLS. The problem
    /// is null when the session is acceptable.
    /// </summary>
    internal static (TlsPolicyVerdict Verdict, string? Problem) CheckCertificate(DeliveryRoute route, MxHost host, TlsHandshakeResult tls, TrustPolicy trust)
    {
        bool required = route.TlsLevel >= TlsLevel.EncryptionOnly;
        TlsPolicyVerdict verdict = new TlsPolicyEvaluator(trust).Evaluate(route.TlsLevel, tls, null, [ExpectedName(route, host)]);
        string? problem = verdict.Passed ? null : verdict.Reason;
        if (problem is null && route.CertificateFingerprints.Count > 0 && required) problem = CheckPins(tls, route.CertificateFingerprints);
        return (verdict, problem);
    }

    /// <summary>The category of a problem <see cref="CheckCertificate"/> reported: the level's, or the pins' when the level passed.</summary>
    internal static CertificateFailure FailureOf(TlsPolicyVerdict verdict) =>
        verdict.Passed ? CertificateFailure.PinMismatch
        : verdict.Failure == CertificateFailure.None ? CertificateFailure.Other
        : verdict.Failure;

    internal static string Policy(DeliveryRoute route) =>
        route.Connector is null ? $"defaultOutbound ({route.TlsLevel})" : $"connector \"{route.Connector}\" ({route.TlsLevel})";

    /// <summary>Pinning: the SHA-256 of the certificate or of its public key must be one of the configured values.</summary>
    internal static string? CheckPins(TlsHandshakeResult tls, IReadOnlyList<string> pins)
    {
        if (tls.Leaf is not { } leaf) return "the server presented no certificate to check against the pinned fingerprints";
        string certificate = Convert.ToHexString(SHA256.HashData(leaf.RawData));
        string publicKey = Convert.ToHexString(SHA256.HashData(leaf.PublicKey.ExportSubjectPublicKeyInfo()));
        foreach (string pin in pins)
        {
            string normalized = pin.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant();
            if (normalized == certificate || normalized == publicKey) return null;
        }
        return $"certificate fingerprint {certificate} (public key {publicKey}) is not one of the pinned fingerprints";
    }

    /// <summary>The mail transaction on a ready connection.</summary>
    private async Task<HostResult> TransactAsync(DeliveryJob job, SmtpClientConnection connection, MxHost host, TlsHandshakeResult? tls, Func<SpoolMessage> open,
        CancellationToken cancellationToken, string? verification = null)
    {
        string mta = $"{host.Name} [{connection.RemoteEndPoint.Address}]";
        Envelope envelope = job.Envelope;
        SmtpCapabilities capabilities = connection.Capabilities;
        bool keep = false;
        try
        {
            using SpoolMessage message = open();
            long size = message.ContentLength;
            var outcomes = new Dictionary<int, RecipientOutcome>();

            if (capabilities.MaximumMessageSize is { } limit and > 0 && size > limit)
            {
                var tooBig = RecordedReply.Local(552, new EnhancedStatusCode(5, 3, 4), $"message size {size} exceeds the limit of {limit} of {host.Name}");
                await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                return Final(job, RecipientOutcomeKind.Failed, tooBig, mta, tls, "size over the server's limit");
            }
            bool utf8 = envelope.SmtpUtf8 || !IsAscii(envelope.Sender) || job.Recipients.Any(i => !IsAscii(envelope.Recipients[i].Address));
            if (utf8 && !capabilities.SmtpUtf8)
            {
                // RFC 6531 3.4: no downgrade of addresses; the sender must hear of it.
                var noUtf8 = RecordedReply.Local(553, new EnhancedStatusCode(5, 6, 7), $"{host.Name} does not support SMTPUTF8, which this message needs");
                await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                return Final(job, RecipientOutcomeKind.Failed, noUtf8, mta, tls, "SMTPUTF8 not offered");
            }

            var commands = new List<string> { MailFrom(envelope, size, capabilities, utf8) };
            foreach (int index in job.Recipients) commands.Add(RcptTo(envelope.Recipients[index], capabilities));
            bool chunking = capabilities.Chunking;
            IReadOnlyList<SmtpReply> replies;
            if (capabilities.Pipelining)
            {
                if (!chunking) commands.Add("DATA");
                replies = await connection.SendPipelinedAsync(commands, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var sequential = new List<SmtpReply>();
                foreach (string command in commands)
                {
                    SmtpReply reply = await connection.SendCommandAsync(command, cancellationToken).ConfigureAwait(false);
                    sequential.Add(reply);
                    if (sequential.Count == 1 && !reply.IsPositive) break;
                }
                replies = sequential;
            }

            SmtpReply mail = replies[0];
            if (!mail.IsPositive)
            {
                await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                return Final(job, mail.IsPermanent ? RecipientOutcomeKind.Failed : RecipientOutcomeKind.Deferred, RecordedReply.FromReply(mail), mta, tls, $"MAIL {mail}");
            }

            var accepted = new List<int>();
            for (int r = 0; r < job.Recipients.Count; r++)
            {
                int index = job.Recipients[r];
                SmtpReply reply = replies[1 + r];
                if (reply.IsPositive) accepted.Add(index);
                else outcomes[index] = new RecipientOutcome(index, reply.IsPermanent ? RecipientOutcomeKind.Failed : RecipientOutcomeKind.Deferred, RecordedReply.FromReply(reply), mta);
            }

            SmtpReply? dataReply = capabilities.Pipelining && !chunking ? replies[^1] : null;
            if (accepted.Count == 0)
            {
                // RFC 2920 3.1: a 354 to a pipelined DATA needs an (empty) message before anything else.
                if (dataReply is { Code: 354 }) await connection.SendDataContentAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
                await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                return new HostResult([.. outcomes.Values], mta, tls?.Facts, "no recipient accepted", null);
            }

            SmtpReply final;
            if (chunking)
            {
                final = await connection.SendChunkedContentAsync(message.Content, size, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                dataReply ??= await connection.SendCommandAsync("DATA", cancellationToken).ConfigureAwait(false);
                if (dataReply.Code != 354)
                {
                    foreach (int index in accepted)
                        outcomes[index] = new RecipientOutcome(index, dataReply.IsPermanent ? RecipientOutcomeKind.Failed : RecipientOutcomeKind.Deferred, RecordedReply.FromReply(dataReply), mta);
                    await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                    return new HostResult([.. outcomes.Values], mta, tls?.Facts, $"DATA {dataReply}", null);
                }
                final = await connection.SendDataContentAsync(message.Content, cancellationToken).ConfigureAwait(false);
            }

            RecipientOutcomeKind kind = final.IsPositive ? RecipientOutcomeKind.Delivered : final.IsPermanent ? RecipientOutcomeKind.Failed : RecipientOutcomeKind.Deferred;
            foreach (int index in accepted) outcomes[index] = new RecipientOutcome(index, kind, RecordedReply.FromReply(final), mta);
            keep = final.IsPositive;
            if (keep) KeepIdle(job.Route.DestinationKey, new PooledConnection(connection, host, tls, verification, DateTimeOffset.UtcNow));
            else await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
            return new HostResult([.. outcomes.Values], mta, tls?.Facts, final.ToString(), null);
        }
        catch (SmtpClientException e)
        {
            // The connection broke during the transaction: nothing is known to be delivered.
            return new HostResult(null, mta, tls?.Facts, e.Message, RecordedReply.Local(451, new EnhancedStatusCode(4, 4, 2), $"{host.Name}: {e.Message}"));
        }
        catch (SmtpProtocolException e)
        {
            return new HostResult(null, mta, tls?.Facts, e.Message, RecordedReply.Local(451, new EnhancedStatusCode(4, 5, 0), $"{host.Name}: protocol error: {e.Message}"));
        }
        finally
        {
            if (!keep) await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static HostResult Final(DeliveryJob job, RecipientOutcomeKind kind, RecordedReply reply, string mta, TlsHandshakeResult? tls, string trace) =>
        new(job.Recipients.Select(i => new RecipientOutcome(i, kind, reply, mta)).ToArray(), mta, tls?.Facts, trace, reply);

    private static string MailFrom(Envelope envelope, long size, SmtpCapabilities capabilities, bool utf8)
    {
        var command = new StringBuilder("MAIL FROM:<").Append(envelope.Sender).Append('>');
        if (capabilities.Size) command.Append(" SIZE=").Append(size);
        if (envelope.Body == BodyType.EightBitMime && capabilities.EightBitMime) command.Append(" BODY=8BITMIME");
        if (utf8) command.Append(" SMTPUTF8");
        if (capabilities.Dsn)
        {
            if (envelope.Return == DsnReturn.Full) command.Append(" RET=FULL");
            else if (envelope.Return == DsnReturn.Headers) command.Append(" RET=HDRS");
            if (envelope.EnvelopeId is { } envid) command.Append(" ENVID=").Append(XText.Encode(envid));
        }
        return command.ToString();
    }

    private static string RcptTo(EnvelopeRecipient recipient, SmtpCapabilities capabilities)
    {
        var command = new StringBuilder("RCPT TO:<").Append(recipient.Address).Append('>');
        if (capabilities.Dsn)
        {
            if (recipient.Notify.HasFlag(DsnNotify.Never)) command.Append(" NOTIFY=NEVER");
            else if (recipient.Notify != DsnNotify.None)
            {
                var parts = new List<string>();
                if (recipient.Notify.HasFlag(DsnNotify.Success)) parts.Add("SUCCESS");
                if (recipient.Notify.HasFlag(DsnNotify.Failure)) parts.Add("FAILURE");
                if (recipient.Notify.HasFlag(DsnNotify.Delay)) parts.Add("DELAY");
                command.Append(" NOTIFY=").Append(string.Join(',', parts));
            }
            if (recipient.OriginalRecipient is { } orcpt && orcpt.IndexOf(';') is > 0 and var semicolon)
                command.Append(" ORCPT=").Append(orcpt[..semicolon]).Append(';').Append(XText.Encode(orcpt[(semicolon + 1)..]));
        }
        return command.ToString();
    }

    private static bool IsAscii(string text) => Ascii.IsValid(text);

    private PooledConnection? TakeIdle(string key)
    {
        if (!_idle.TryGetValue(key, out var queue)) return null;
        while (queue.TryDequeue(out PooledConnection? pooled))
        {
            if (DateTimeOffset.UtcNow - pooled.Since < ConnectionReuseTime && pooled.Connection.State == SmtpClientState.Ready) return pooled;
            _ = CloseAsync(pooled.Connection);
        }
        return null;
    }

    private void KeepIdle(string key, PooledConnection pooled)
    {
        _idle.GetOrAdd(key, _ => new ConcurrentQueue<PooledConnection>()).Enqueue(pooled);
        _ = ExpireLaterAsync(key);
    }

    private async Task ExpireLaterAsync(string key)
    {
        await Task.Delay(ConnectionReuseTime + TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
        if (!_idle.TryGetValue(key, out var queue)) return;
        int count = queue.Count;
        for (int i = 0; i < count && queue.TryDequeue(out PooledConnection? pooled); i++)
        {
            if (DateTimeOffset.UtcNow - pooled.Since < ConnectionReuseTime) queue.Enqueue(pooled);
            else await CloseAsync(pooled.Connection).ConfigureAwait(false);
        }
    }

    private static async Task CloseAsync(SmtpClientConnection connection)
    {
        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await connection.QuitAsync(bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SmtpClientException or SmtpProtocolException or IOException)
        {
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (ConcurrentQueue<PooledConnection> queue in _idle.Values)
        {
            while (queue.TryDequeue(out PooledConnection? pooled)) await CloseAsync(pooled.Connection).ConfigureAwait(false);
        }
    }

    private sealed record PooledConnection(SmtpClientConnection Connection, MxHost Host, TlsHandshakeResult? Tls, string? Verification, DateTimeOffset Since);

    /// <summary>What one host did: outcomes (null: it took nothing, try another), and the reason for the record.</summary>
    private sealed record HostResult(IReadOnlyList<RecipientOutcome>? Outcomes, string? RemoteMta, TlsSessionFacts? Tls, string Trace, RecordedReply? Reply)
    {
        /// <summary>The trust word of the TLS session (see <see cref="TrustWord"/>).</summary>
        public string? Verification { get; init; }

        /// <summary>With plaintextFallback: the attempt whose TLS handshake failed before this plain-text one.</summary>
        public DeliveryHostAttempt? RefusedBeforeFallback { get; init; }
    }
}
