using Microsoft.Extensions.Logging;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>Log messages of delivery attempts; event ids 4100-4199 are stable.</summary>
internal static partial class DeliveryLog
{
    /// <summary>Event 4100, Information: see <see cref="TlsEstablished"/>.</summary>
    public static readonly EventId TlsEstablishedEvent = new(4100, nameof(TlsEstablished));

    /// <summary>
    /// The line Postfix admins know, with the queue id first as on Postfix's smtp lines:
    /// <c>0MX1CQ73A0000KBYGN: Verified TLS connection established to mail.fabrikam.example[192.0.2.4]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)</c>.
    /// </summary>
    public static void TlsEstablished(ILogger logger, string queueId, string trust, string relay, TlsSessionFacts tls)
    {
        if (!logger.IsEnabled(LogLevel.Information)) return;
        logger.Log(LogLevel.Information, TlsEstablishedEvent, TlsEstablishedLogState.Outbound(queueId, trust, relay, tls), null, TlsEstablishedLogState.Formatter);
    }

    [LoggerMessage(4101, LogLevel.Warning, "{QueueId}: TLS policy refused {Where} (connector \"{Connector}\"): {Reason}; nothing sent")]
    public static partial void TlsRefused(ILogger logger, string queueId, string where, string connector, string reason);

    [LoggerMessage(4102, LogLevel.Information, "{QueueId}: plain text to {Where}: {Reason}")]
    public static partial void PlainText(ILogger logger, string queueId, string where, string reason);

    [LoggerMessage(4103, LogLevel.Warning, "test mode: connector \"{Connector}\" would refuse {Where}: {Reason}; delivering anyway")]
    public static partial void TestModeFailure(ILogger logger, string where, string connector, string reason);
}
