using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Spool;
using Postern.Tls;
using Postern.Tracing;

namespace Postern.Receiving;

/// <summary>
/// Everything a session needs, compiled once from one configuration snapshot. A session takes the
/// current context when it starts and keeps it to the end, so a reload never changes the rules in
/// the middle of a conversation.
/// </summary>
public sealed class ReceivingContext
{
    public required string HostName { get; init; }
    public required LimitSettings Limits { get; init; }
    public required MessageSpool Spool { get; init; }
    public required InboundPolicy Inbound { get; init; }
    public required TrustPolicy Trust { get; init; }
    /// <summary>Null when the gateway has no certificate (then no listener may use TLS).</summary>
    public ServerTlsAuthenticator? Tls { get; init; }
    public required ILogger Logger { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;
    /// <summary>Where received, queued and rejected events go.</summary>
    public ITraceSink Trace { get; init; } = NullTraceSink.Instance;
}
