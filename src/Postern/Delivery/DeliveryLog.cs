using Microsoft.Extensions.Logging;

namespace Postern.Delivery;

/// <summary>Log messages of delivery attempts; event ids 4100-4199 are stable.</summary>
internal static partial class DeliveryLog
{
    /// <summary>The line Postfix admins know: "Verified TLS connection established to host[ip]:25: TLSv1.3 with cipher ...".</summary>
    [LoggerMessage(4100, LogLevel.Information, "{Trust} TLS connection established to {Where}: {Protocol} with cipher {Cipher}")]
    public static partial void TlsEstablished(ILogger logger, string trust, string where, string protocol, string cipher);

    [LoggerMessage(4101, LogLevel.Warning, "{QueueId}: TLS policy refused {Where} (connector \"{Connector}\"): {Reason}; nothing sent")]
    public static partial void TlsRefused(ILogger logger, string queueId, string where, string connector, string reason);

    [LoggerMessage(4102, LogLevel.Information, "{QueueId}: plain text to {Where}: {Reason}")]
    public static partial void PlainText(ILogger logger, string queueId, string where, string reason);

    [LoggerMessage(4103, LogLevel.Warning, "test mode: connector \"{Connector}\" would refuse {Where}: {Reason}; delivering anyway")]
    public static partial void TestModeFailure(ILogger logger, string where, string connector, string reason);
}
