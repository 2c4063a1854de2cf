using Postern.Tracing;

namespace Postern.Telemetry;

/// <summary>
/// Counts message events: received messages by inbound connector, recipient outcomes by outbound
/// connector, and for each delivered recipient the time since the message was received
/// (<see cref="TraceEvent.DurationMs"/>). Other kinds are left to the trace store.
/// </summary>
public sealed class MetricsTraceSink(PosternMetrics metrics) : ITraceSink
{
    public void Record(TraceEvent traceEvent)
    {
        switch (traceEvent.Kind)
        {
            case TraceEventKind.Received:
                metrics.MessageReceived(traceEvent.Connector);
                break;
            case TraceEventKind.Delivered:
                metrics.RecipientOutcome("delivered", traceEvent.Connector);
                if (traceEvent.DurationMs is { } elapsed and >= 0) metrics.Delivered(TimeSpan.FromMilliseconds(elapsed));
                break;
            case TraceEventKind.Deferred:
                metrics.RecipientOutcome("deferred", traceEvent.Connector);
                break;
            case TraceEventKind.Bounced:
                metrics.RecipientOutcome("bounced", traceEvent.Connector);
                break;
            case TraceEventKind.Expired:
                metrics.RecipientOutcome("expired", traceEvent.Connector);
                break;
        }
    }
}
