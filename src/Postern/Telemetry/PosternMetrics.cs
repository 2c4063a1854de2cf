using System.Diagnostics;
using System.Diagnostics.Metrics;
using Postern.Delivery;
using Postern.Tls;
using Postern.Tracing;

namespace Postern.Telemetry;

/// <summary>Which side of a TLS handshake the gateway was on.</summary>
public enum TlsDirection
{
    /// <summary>A client connected to one of our listeners and the gateway was the server.</summary>
    Inbound,
    /// <summary>The gateway delivered to a remote host and was the client.</summary>
    Outbound,
}

/// <summary>
/// The gateway's instruments on one <see cref="Meter"/> named "Postern" (docs/metrics.md lists the
/// series). One instance per gateway, so two gateways in one process never share a series; the
/// admin endpoint exports only this meter's instruments. Every call is a counter add or a histogram
/// record with at most a few string tags: no allocation beyond the tag list on the stack, and next
/// to nothing while no exporter listens.
/// </summary>
public sealed class PosternMetrics : IDisposable
{
    public const string MeterName = "Postern";

    /// <summary>Label value for a handshake that failed, or facts that are unknown.</summary>
    public const string None = "none";

    // Mail is delivered in well under a second on a LAN and up to the queue lifetime when a partner
    // is down; buckets reach a day (beyond it the recipient has usually expired anyway).
    private static readonly double[] DeliveryBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400];

    // A commit is a write plus two fsyncs: sub-millisecond on NVMe, tens of milliseconds on a busy disk.
    private static readonly double[] CommitBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private readonly Lock _listenersGate = new();
    private (string Name, Func<int> Active)[] _listeners = [];
    private readonly Counter<long> _sessions;
    private readonly Counter<long> _received;
    private readonly Counter<long> _recipients;
    private readonly Histogram<double> _deliveryDuration;
    private readonly Counter<long> _handshakes;
    private readonly Counter<long> _verificationFailures;
    private readonly Histogram<double> _commitDuration;
    private volatile QueueScheduler? _queue;

    public PosternMetrics(TimeProvider? time = null)
    {
        TimeProvider clock = time ?? TimeProvider.System;
        Meter = new Meter(MeterName, typeof(PosternMetrics).Assembly.GetName().Version?.ToString(3));
        // Read from the listeners at each collection, so every listener has a series from the start (0 when idle).
        Meter.CreateObservableUpDownCounter("postern.smtp.sessions.active", ObserveActiveSessions, "{session}", "SMTP sessions in progress, by listener.");
        _sessions = Meter.CreateCounter<long>("postern.smtp.sessions", "{session}", "SMTP sessions started, by listener.");
        _received = Meter.CreateCounter<long>("postern.messages.received", "{message}", "Messages accepted and committed to the spool, by inbound connector.");
        _recipients = Meter.CreateCounter<long>("postern.delivery.recipients", "{recipient}", "Recipient outcomes (delivered, deferred, bounced, expired), by outbound connector.");
        _deliveryDuration = Meter.CreateHistogram("postern.delivery.duration", "s", "Time from receiving a message to the next hop accepting a recipient.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DeliveryBuckets });
        _handshakes = Meter.CreateCounter<long>("postern.tls.handshakes", "{handshake}", "TLS handshakes, by direction, protocol version, cipher suite and outcome.");
        _verificationFailures = Meter.CreateCounter<long>("postern.tls.verification.failures", "{failure}", "Outbound certificates refused by a connector's TLS policy, by connector and reason.");
        _commitDuration = Meter.CreateHistogram("postern.spool.commit.duration", "s", "Time to make a spooled message durable: final write, file fsync and queue directory fsync.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CommitBuckets });
        Meter.CreateObservableGauge("postern.queue.messages", ObserveQueueSize, "{message}", "Messages in the queue (waiting or being delivered); absent while the queue is held.");
        Meter.CreateObservableGauge("postern.queue.oldest_message.age", () => ObserveOldestAge(clock), "s", "Seconds since the oldest queued message was received; 0 when the queue is empty.");
        TraceSink = new MetricsTraceSink(this);
    }

    /// <summary>The meter; an exporter listens to it by reference, not only by name.</summary>
    public Meter Meter { get; }

    /// <summary>Counts the message events (received, delivered, deferred, bounced, expired); one of the gateway's trace sinks.</summary>
    public ITraceSink TraceSink { get; }

    /// <summary>Reads queue size and oldest message from this scheduler at each collection.</summary>
    public void ObserveQueue(QueueScheduler? scheduler) => _queue = scheduler;

    /// <summary>Reports the sessions in progress on a listener (its bound endpoint) at each collection.</summary>
    public void ObserveListener(string listener, Func<int> activeSessions)
    {
        lock (_listenersGate) _listeners = [.. _listeners, (listener, activeSessions)];
    }

    internal void SessionStarted(string listener) => _sessions.Add(1, new KeyValuePair<string, object?>("listener", listener));

    /// <summary>A completed handshake (with the TLS facts and the trust word) or a failed one (facts null, outcome "failed").</summary>
    internal void Handshake(TlsDirection direction, TlsSessionFacts? facts, string outcome)
    {
        var tags = new TagList
        {
            { "direction", direction == TlsDirection.Inbound ? "inbound" : "outbound" },
            { "version", facts?.Protocol ?? None },
            { "cipher", facts?.CipherSuite ?? None },
            { "outcome", outcome },
        };
        _handshakes.Add(1, tags);
    }

    internal void VerificationFailed(string? connector, CertificateFailure failure) =>
        _verificationFailures.Add(1, new KeyValuePair<string, object?>("connector", connector ?? ""), new KeyValuePair<string, object?>("reason", ReasonLabel(failure)));

    internal void MessageReceived(string? connector) => _received.Add(1, new KeyValuePair<string, object?>("connector", connector ?? ""));

    internal void RecipientOutcome(string outcome, string? connector) =>
        _recipients.Add(1, new KeyValuePair<string, object?>("connector", connector ?? ""), new KeyValuePair<string, object?>("outcome", outcome));

    internal void Delivered(TimeSpan sinceReceived) => _deliveryDuration.Record(sinceReceived.TotalSeconds);

    /// <summary>Records a commit that started at <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    internal void SpoolCommitted(long startTimestamp) => _commitDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds);

    /// <summary>The <c>reason</c> label: a fixed, small set of values.</summary>
    public static string ReasonLabel(CertificateFailure failure) => failure switch
    {
        CertificateFailure.NameMismatch => "name_mismatch",
        CertificateFailure.Expired => "expired",
        CertificateFailure.NotYetValid => "not_yet_valid",
        CertificateFailure.UntrustedRoot => "untrusted_root",
        CertificateFailure.MissingIntermediate => "missing_intermediate",
        CertificateFailure.PinMismatch => "pin_mismatch",
        _ => "other",
    };

    private IEnumerable<Measurement<long>> ObserveActiveSessions()
    {
        (string Name, Func<int> Active)[] listeners = Volatile.Read(ref _listeners);
        var measurements = new Measurement<long>[listeners.Length];
        for (int i = 0; i < listeners.Length; i++)
            measurements[i] = new Measurement<long>(listeners[i].Active(), new KeyValuePair<string, object?>("listener", listeners[i].Name));
        return measurements;
    }

    private IEnumerable<Measurement<long>> ObserveQueueSize() =>
        _queue is { } queue ? [new Measurement<long>(queue.Count)] : [];

    private IEnumerable<Measurement<double>> ObserveOldestAge(TimeProvider clock)
    {
        if (_queue is not { } queue) return [];
        DateTimeOffset? oldest = queue.OldestArrival;
        double age = oldest is { } at ? Math.Max(0, (clock.GetUtcNow() - at).TotalSeconds) : 0;
        return [new Measurement<double>(age)];
    }

    public void Dispose() => Meter.Dispose();
}
