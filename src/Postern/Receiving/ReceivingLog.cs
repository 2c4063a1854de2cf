using Microsoft.Extensions.Logging;
using Postern.Tls;

namespace Postern.Receiving;

/// <summary>Log messages of the receiving side; event ids 1000-1099 are stable.</summary>
internal static partial class ReceivingLog
{
    [LoggerMessage(1000, LogLevel.Information, "Listening on {Endpoint} ({Security})")]
    public static partial void Listening(ILogger logger, string endpoint, string security);

    [LoggerMessage(1001, LogLevel.Debug, "connect from {Client} on {Endpoint}")]
    public static partial void Connected(ILogger logger, string client, string endpoint);

    [LoggerMessage(1002, LogLevel.Warning, "connection from {Client} refused: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, string client, string reason);

    /// <summary>Event 1003, Information: see <see cref="TlsEstablished"/>.</summary>
    public static readonly EventId TlsEstablishedEvent = new(1003, nameof(TlsEstablished));

    /// <summary>
    /// Postfix smtpd's line, <c>Anonymous TLS connection established from unknown[192.0.2.9]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)</c>,
    /// then <c> sni=</c> and <c> client_cert="..."</c> when the client sent them. Postern does no
    /// reverse lookups, so the client's name is <c>unknown</c> as in Postfix without one.
    /// </summary>
    public static void TlsEstablished(ILogger logger, string trust, string clientAddress, TlsSessionFacts tls, string? clientCertificate)
    {
        if (!logger.IsEnabled(LogLevel.Information)) return;
        logger.Log(LogLevel.Information, TlsEstablishedEvent, TlsEstablishedLogState.Inbound(trust, "unknown", clientAddress, tls, clientCertificate), null, TlsEstablishedLogState.Formatter);
    }

    [LoggerMessage(1004, LogLevel.Warning, "TLS handshake failed with {Client}: {Reason}")]
    public static partial void TlsHandshakeFailed(ILogger logger, string client, string reason);

    [LoggerMessage(1005, LogLevel.Information, "{QueueId}: queued from={Sender} nrcpt={Recipients} size={Size} client={Client} tls={Tls} connector=\"{Connector}\"")]
    public static partial void MessageQueued(ILogger logger, string queueId, string client, string sender, int recipients, long size, string tls, string connector);

    [LoggerMessage(1006, LogLevel.Information, "message refused from {Client} from={Sender}: {Reply}")]
    public static partial void MessageRefused(ILogger logger, string client, string sender, string reply);

    [LoggerMessage(1007, LogLevel.Information, "sender refused from {Client} from={Sender} connector=\"{Connector}\": {Reply}")]
    public static partial void SenderRefused(ILogger logger, string client, string sender, string connector, string reply);

    [LoggerMessage(1008, LogLevel.Information, "recipient refused from {Client} from={Sender} to={Recipient}: {Reply}")]
    public static partial void RecipientRefused(ILogger logger, string client, string sender, string recipient, string reply);

    [LoggerMessage(1009, LogLevel.Error, "{QueueId}: spool write failed: {Reason}")]
    public static partial void SpoolWriteFailed(ILogger logger, string queueId, string reason);

    [LoggerMessage(1010, LogLevel.Information, "timeout from {Client} in state {State}")]
    public static partial void Timeout(ILogger logger, string client, string state);

    [LoggerMessage(1011, LogLevel.Debug, "connection with {Client} lost: {Reason}")]
    public static partial void ConnectionLost(ILogger logger, string client, string reason);

    [LoggerMessage(1012, LogLevel.Warning, "{Client} sent data before the greeting; disconnected")]
    public static partial void PregreetTalker(ILogger logger, string client);

    [LoggerMessage(1013, LogLevel.Error, "session with {Client} failed")]
    public static partial void SessionFailed(ILogger logger, string client, Exception exception);

    [LoggerMessage(1014, LogLevel.Information, "Stopped listening on {Endpoint}; waiting up to {Seconds} s for {Sessions} session(s)")]
    public static partial void Draining(ILogger logger, string endpoint, int seconds, int sessions);
}
