using System.Globalization;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Spool;

namespace Postern.Delivery;

/// <summary>Log messages of the queue scheduler; event ids 4000-4099 are stable.</summary>
internal static partial class SchedulerLog
{
    /// <summary>
    /// Postfix's delivery line, one per recipient and attempt:
    /// <c>0MX1CQ73A0000KBYGN: to=&lt;bob@fabrikam.example&gt;, relay=mail.fabrikam.example[192.0.2.4]:25, delay=1.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4dXq1), connector="To Fabrikam servers"</c>.
    /// </summary>
    [LoggerMessage(4000, LogLevel.Information, "{QueueId}: to=<{Recipient}>, relay={Relay}, delay={Delay:0.0}, dsn={Dsn}, status={Status} ({Reply}), connector=\"{Connector}\"")]
    private static partial void Outcome(ILogger logger, string queueId, string recipient, string relay, double delay, string dsn, string status, string reply, string connector);

    /// <summary>The outcome of one recipient in one attempt; <paramref name="delay"/> is the time since the message arrived.</summary>
    public static void Outcome(ILogger logger, string queueId, string recipient, RecipientOutcome outcome, DeliveryRoute route, TimeSpan delay)
    {
        if (!logger.IsEnabled(LogLevel.Information)) return;
        Outcome(logger, queueId, recipient, Relay(outcome.RemoteMta, route), Seconds(delay), Dsn(outcome.Reply), Status(outcome.Kind), outcome.Reply.ToString(), route.Connector ?? "");
    }

    [LoggerMessage(4001, LogLevel.Information, "{QueueId}: removed")]
    public static partial void Removed(ILogger logger, string queueId);

    /// <summary>
    /// A recipient still undelivered when the queue lifetime ran out, in the shape of <see cref="Outcome(ILogger, string, string, RecipientOutcome, DeliveryRoute, TimeSpan)"/>:
    /// <c>0MX1CQ73A0000KBYGN: to=&lt;bob@fabrikam.example&gt;, relay=none, delay=432000.0, dsn=4.4.1, status=expired (451 4.4.1 no host could be reached), connector="To Fabrikam servers"</c>.
    /// </summary>
    [LoggerMessage(4002, LogLevel.Information, "{QueueId}: to=<{Recipient}>, relay={Relay}, delay={Delay:0.0}, dsn={Dsn}, status=expired ({Reply}), connector=\"{Connector}\"")]
    private static partial void Expired(ILogger logger, string queueId, string recipient, string relay, double delay, string dsn, string reply, string connector);

    /// <summary>A recipient given up on at expiry, with the last reply it had; no attempt is made, so the relay is none.</summary>
    public static void Expired(ILogger logger, string queueId, RecipientDeliveryState recipient, RecordedReply reply, TimeSpan delay)
    {
        if (!logger.IsEnabled(LogLevel.Information)) return;
        Expired(logger, queueId, recipient.Address, "none", Seconds(delay), Dsn(reply), reply.ToString(), recipient.Connector ?? "");
    }

    [LoggerMessage(4003, LogLevel.Information, "{QueueId}: sender {Kind} notification: {ReportId} to <{Recipient}>")]
    public static partial void ReportQueued(ILogger logger, string queueId, string reportId, string kind, string recipient);

    [LoggerMessage(4004, LogLevel.Error, "{QueueId}: delivery pass failed; retrying later")]
    public static partial void ProcessingFailed(ILogger logger, string queueId, Exception exception);

    [LoggerMessage(4005, LogLevel.Warning, "{QueueId}: queue entry unreadable: {Reason}")]
    public static partial void EntryUnreadable(ILogger logger, string queueId, string reason);

    [LoggerMessage(4006, LogLevel.Information, "{QueueId}: deleted by the administrator")]
    public static partial void Deleted(ILogger logger, string queueId);

    [LoggerMessage(4007, LogLevel.Error, "{QueueId}: delivery attempt failed unexpectedly")]
    public static partial void AttemptFailed(ILogger logger, string queueId, Exception exception);

    /// <summary>Postfix's status words: sent, deferred, bounced.</summary>
    internal static string Status(RecipientOutcomeKind kind) => kind switch
    {
        RecipientOutcomeKind.Delivered => "sent",
        RecipientOutcomeKind.Failed => "bounced",
        _ => "deferred",
    };

    /// <summary>The reply's enhanced status code, else the class of its reply code (RFC 3463: 2.0.0, 4.0.0, 5.0.0).</summary>
    internal static string Dsn(RecordedReply reply) =>
        reply.EnhancedStatus ?? $"{reply.Code / 100}.0.0";

    /// <summary>
    /// Postfix's relay: <c>host[address]:port</c> of the server that answered, or <c>none</c>. The
    /// port is the smart host's when the route names one with that host, else 25 (MX delivery).
    /// </summary>
    internal static string Relay(string? remoteMta, DeliveryRoute route)
    {
        // RemoteMta is "host [address]", as a DSN's Remote-MTA field carries it.
        if (string.IsNullOrEmpty(remoteMta)) return "none";
        int open = remoteMta.LastIndexOf(" [", StringComparison.Ordinal);
        if (open < 0 || !remoteMta.EndsWith(']')) return remoteMta;
        string host = remoteMta[..open];
        string address = remoteMta[(open + 2)..^1];
        int port = 25;
        foreach (string smartHost in route.SmartHosts)
        {
            if (ConfigurationSyntax.TryParseHostAndPort(smartHost, allowBareIPv6: false, out string name, out int? given)
                && string.Equals(name, host, StringComparison.OrdinalIgnoreCase))
            {
                port = given ?? 25;
                break;
            }
        }
        return $"{host}[{address}]:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>Seconds with one decimal, as Postfix's delay=.</summary>
    private static double Seconds(TimeSpan delay) => Math.Round(Math.Max(0, delay.TotalSeconds), 1, MidpointRounding.AwayFromZero);
}
