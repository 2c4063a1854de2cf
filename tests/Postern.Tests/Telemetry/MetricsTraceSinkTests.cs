using Postern.Telemetry;
using Postern.Tracing;

namespace Postern.Tests.Telemetry;

/// <summary>The message events counted by connector and outcome, and the delay of a delivered recipient.</summary>
public sealed class MetricsTraceSinkTests
{
    private static TraceEvent Event(TraceEventKind kind, string? connector, long? durationMs = null) => new()
    {
        Time = DateTimeOffset.UtcNow,
        Kind = kind,
        QueueId = "0K9Q2M7B3X4D1A5F00",
        Connector = connector,
        Recipient = kind == TraceEventKind.Received ? null : "bob@partner.test",
        DurationMs = durationMs,
    };

    [Fact]
    public void Received_messages_are_counted_by_inbound_connector()
    {
        using var metrics = new PosternMetrics();
        using var recorder = new MeterRecorder(metrics.Meter);
        metrics.TraceSink.Record(Event(TraceEventKind.Received, "Loopback"));
        metrics.TraceSink.Record(Event(TraceEventKind.Received, "Loopback"));
        metrics.TraceSink.Record(Event(TraceEventKind.Received, null));

        IReadOnlyList<RecordedMeasurement> received = recorder.Of("postern.messages.received");
        Assert.Equal(3, received.Count);
        Assert.Equal(2, received.Count(m => m["connector"] == "Loopback"));
        Assert.Equal(1, received.Count(m => m["connector"] == ""));
        Assert.All(received, m => Assert.Equal(1, m.Value));
    }

    [Theory]
    [InlineData(TraceEventKind.Delivered, "delivered")]
    [InlineData(TraceEventKind.Deferred, "deferred")]
    [InlineData(TraceEventKind.Bounced, "bounced")]
    [InlineData(TraceEventKind.Expired, "expired")]
    public void Each_recipient_outcome_is_counted_under_its_outbound_connector(TraceEventKind kind, string outcome)
    {
        using var metrics = new PosternMetrics();
        using var recorder = new MeterRecorder(metrics.Meter);
        metrics.TraceSink.Record(Event(kind, "To Partner", durationMs: 1500));

        RecordedMeasurement counted = Assert.Single(recorder.Of("postern.delivery.recipients"));
        Assert.Equal(1, counted.Value);
        Assert.Equal("To Partner", counted["connector"]);
        Assert.Equal(outcome, counted["outcome"]);
        Assert.Empty(recorder.Of("postern.messages.received"));
    }

    [Fact]
    public void A_delivered_recipient_records_the_seconds_since_the_message_was_received()
    {
        using var metrics = new PosternMetrics();
        using var recorder = new MeterRecorder(metrics.Meter);
        metrics.TraceSink.Record(Event(TraceEventKind.Delivered, "To Partner", durationMs: 2500));
        metrics.TraceSink.Record(Event(TraceEventKind.Deferred, "To Partner", durationMs: 9000));
        metrics.TraceSink.Record(Event(TraceEventKind.Delivered, null, durationMs: null));

        RecordedMeasurement latency = Assert.Single(recorder.Of("postern.delivery.duration"));
        Assert.Equal(2.5, latency.Value, 6);
    }

    [Theory]
    [InlineData(TraceEventKind.Queued)]
    [InlineData(TraceEventKind.Attempt)]
    [InlineData(TraceEventKind.Rejected)]
    [InlineData(TraceEventKind.Deleted)]
    public void Other_events_are_left_to_the_trace_store(TraceEventKind kind)
    {
        using var metrics = new PosternMetrics();
        using var recorder = new MeterRecorder(metrics.Meter);
        metrics.TraceSink.Record(Event(kind, "To Partner", durationMs: 10));
        Assert.Empty(recorder.Measurements);
    }

    [Fact]
    public void Two_gateways_in_one_process_do_not_see_each_others_measurements()
    {
        using var first = new PosternMetrics();
        using var second = new PosternMetrics();
        using var recorder = new MeterRecorder(first.Meter);
        second.TraceSink.Record(Event(TraceEventKind.Received, "Loopback"));
        Assert.Empty(recorder.Measurements);
        first.TraceSink.Record(Event(TraceEventKind.Received, "Loopback"));
        Assert.Single(recorder.Measurements);
    }
}
