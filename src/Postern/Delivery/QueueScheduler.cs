using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Postern.Smtp;
using Postern.Spool;
using Postern.Tracing;

namespace Postern.Delivery;

/// <summary>Concurrency bounds of the scheduler, with Postfix's defaults.</summary>
public sealed record SchedulerLimits
{
    /// <summary>Messages being worked on at once: the active window over the queue (Postfix qmgr_message_active_limit is 20000; a smaller window keeps memory flat).</summary>
    public int ActiveMessages { get; init; } = 1000;
    /// <summary>Delivery attempts at once, all destinations (as default_process_limit, 100).</summary>
    public int ConcurrentDeliveries { get; init; } = 100;
    /// <summary>Attempts at once to one destination (as default_destination_concurrency_limit, 20).</summary>
    public int ConcurrentDeliveriesPerDestination { get; init; } = 20;
}

/// <summary>
/// Decides what to deliver when. The queue lives on disk (the spool and its per-recipient states);
/// in memory there is only an index of queue id → next attempt time, plus the bounded set of
/// messages being worked on, so a large deferred queue costs little memory and no CPU while it
/// waits (Postfix's active/deferred split). New messages arrive through the spool's commit event.
/// </summary>
public sealed partial class QueueScheduler : IAsyncDisposable
{
    private readonly MessageSpool _spool;
    private readonly DeliveryAgent _agent;
    private readonly Func<OutboundRouter> _router;
    private readonly RetrySchedule _schedule;
    private readonly DeliveryStatusNotificationBuilder _dsn;
    private readonly string _hostName;
    private readonly SchedulerLimits _limits;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ITraceSink _trace;

    private readonly object _gate = new();
    private readonly PriorityQueue<string, DateTimeOffset> _due = new();
    private readonly Dictionary<string, DateTimeOffset> _scheduled = new(StringComparer.Ordinal);
    private readonly HashSet<string> _active = new(StringComparer.Ordinal);
    // Every message the scheduler holds (waiting or active); queue ids sort by time, so Min is the oldest.
    private readonly SortedSet<string> _queued = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _destinations = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _deliveries;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private volatile bool _draining;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, bool> _running = new();
    private Task? _loop;

    public QueueScheduler(MessageSpool spool, DeliveryAgent agent, Func<OutboundRouter> router, RetrySchedule schedule,
        DeliveryStatusNotificationBuilder dsn, string hostName, SchedulerLimits limits, TimeProvider time, ILogger logger, ITraceSink? trace = null)
    {
        _trace = trace ?? NullTraceSink.Instance;
        _spool = spool;
        _agent = agent;
        _router = router;
        _schedule = schedule;
        _dsn = dsn;
        _hostName = hostName;
        _limits = limits;
        _time = time;
        _logger = logger;
        _deliveries = new SemaphoreSlim(limits.ConcurrentDeliveries, limits.ConcurrentDeliveries);
    }

    /// <summary>Messages known to the scheduler (queued, waiting or in progress).</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _queued.Count;
        }
    }

    /// <summary>When the oldest message the scheduler holds entered the spool (from its queue id); null when none. No spool access.</summary>
    public DateTimeOffset? OldestArrival
    {
        get
        {
            string? oldest;
            lock (_gate) oldest = _queued.Min;
            return oldest is not null && QueueIdGenerator.TryGetTime(oldest, out DateTimeOffset at) ? at : null;
        }
    }

    /// <summary>Indexes the queue as it is on disk and starts delivering.</summary>
    public void Start()
    {
        _spool.Committed += Enqueue;
        DateTimeOffset now = _time.GetUtcNow();
        foreach (string queueId in _spool.ListQueueIds())
        {
            DateTimeOffset due = now;
            try
            {
                DeliveryState state = _spool.DeliveryStates.Load(queueId);
                DateTimeOffset? next = NextDue(state);
                if (next is { } n && n > now) due = n;
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                SchedulerLog.EntryUnreadable(_logger, queueId, e.Message);
            }
            Schedule(queueId, due);
        }
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>A new message: due now.</summary>
    public void Enqueue(string queueId) => Schedule(queueId, _time.GetUtcNow());

    /// <summary>Makes a message due now (an administrator's "retry"); false when it is not queued.</summary>
    public bool RetryNow(string queueId)
    {
        if (!File.Exists(Path.Combine(_spool.QueueDirectory, queueId))) return false;
        lock (_gate) _retryRequested.Add(queueId);
        Schedule(queueId, _time.GetUtcNow(), force: true);
        return true;
    }

    /// <summary>Makes every queued message due now.</summary>
    public int RetryAll()
    {
        int count = 0;
        foreach (string queueId in _spool.ListQueueIds())
        {
            lock (_gate) _retryRequested.Add(queueId);
            Schedule(queueId, _time.GetUtcNow(), force: true);
            count++;
        }
        return count;
    }

    /// <summary>
    /// Removes a message from the queue (an administrator's "delete"). A message in the middle of an
    /// attempt is removed when the attempt ends. False when it is not queued.
    /// </summary>
    public async Task<bool> DeleteAsync(string queueId)
    {
        lock (_gate)
        {
            _scheduled.Remove(queueId);
            _retryRequested.Remove(queueId);
            if (_active.Contains(queueId))
            {
                _deleteRequested.Add(queueId);
                return true;
            }
            _queued.Remove(queueId);
        }
        if (!File.Exists(Path.Combine(_spool.QueueDirectory, queueId))) return false;
        await _spool.DeleteAsync(queueId).ConfigureAwait(false);
        SchedulerLog.Deleted(_logger, queueId);
        TraceDeleted(queueId);
        return true;
    }

    private readonly HashSet<string> _deleteRequested = new(StringComparer.Ordinal);

    /// <summary>Messages an administrator asked to retry: their recipients are tried at the next pass, whatever their own next attempt time.</summary>
    private readonly HashSet<string> _retryRequested = new(StringComparer.Ordinal);

    /// <summary>When the message is next due, or null if it is not waiting (in progress or unknown).</summary>
    public DateTimeOffset? DueAt(string queueId)
    {
        lock (_gate) return _scheduled.TryGetValue(queueId, out DateTimeOffset due) ? due : null;
    }

    private void Schedule(string queueId, DateTimeOffset due, bool force = false)
    {
        lock (_gate)
        {
            if (_scheduled.TryGetValue(queueId, out DateTimeOffset existing) && existing <= due && !force) return;
            _scheduled[queueId] = due;
            _due.Enqueue(queueId, due);
            _queued.Add(queueId);
        }
        Wake();
    }

    private void Wake()
    {
        // One pending signal is enough: the loop looks at the whole index each time it wakes.
        lock (_wake)
        {
            if (_wake.CurrentCount == 0) _wake.Release();
        }
    }

    private async Task LoopAsync()
    {
        CancellationToken stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            TimeSpan wait = Timeout.InfiniteTimeSpan;
            DateTimeOffset now = _time.GetUtcNow();
            var start = new List<string>();
            lock (_gate)
            {
                while (!_draining && _active.Count + start.Count < _limits.ActiveMessages && _due.TryPeek(out string? queueId, out DateTimeOffset due))
                {
                    if (!_scheduled.TryGetValue(queueId, out DateTimeOffset current) || current != due || _active.Contains(queueId))
                    {
                        // A stale index entry (rescheduled, deleted, or already being worked on).
                        _due.Dequeue();
                        continue;
                    }
                    if (due > now)
                    {
                        wait = due - now;
                        break;
                    }
                    _due.Dequeue();
                    _scheduled.Remove(queueId);
                    _active.Add(queueId);
                    start.Add(queueId);
                }
            }

            foreach (string queueId in start)
            {
                Task work = ProcessAsync(queueId, stopping);
                _running.TryAdd(work, true);
                _ = work.ContinueWith(t => _running.TryRemove(t, out _), TaskScheduler.Default);
            }

            try
            {
                // Sleep until the next message is due or something new arrives: no polling.
                if (wait == Timeout.InfiniteTimeSpan) await _wake.WaitAsync(stopping).ConfigureAwait(false);
                else
                {
                    using var delay = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                    Task timer = Task.Delay(wait, _time, delay.Token);
                    Task signal = _wake.WaitAsync(delay.Token);
                    await Task.WhenAny(timer, signal).ConfigureAwait(false);
                    stopping.ThrowIfCancellationRequested();
                    delay.Cancel();
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ProcessAsync(string queueId, CancellationToken stopping)
    {
        DateTimeOffset? next = null;
        try
        {
            next = await DeliverMessageAsync(queueId, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopping: the state on disk says what is left; the next start takes it up again.
        }
        catch (Exception e)
        {
            SchedulerLog.ProcessingFailed(_logger, queueId, e);
            next = _time.GetUtcNow() + _schedule.MinimumBackoff;
        }
        finally
        {
            bool delete;
            lock (_gate)
            {
                _active.Remove(queueId);
                delete = _deleteRequested.Remove(queueId);
                // Rescheduled while in progress (e.g. a retry request): the loop dropped that index
                // entry because the message was active, so put it back now that it is not.
                if (!delete && _scheduled.TryGetValue(queueId, out DateTimeOffset pending)) _due.Enqueue(queueId, pending);
                else if (delete || next is null || stopping.IsCancellationRequested) _queued.Remove(queueId);
            }
            if (delete)
            {
                try
                {
                    await _spool.DeleteAsync(queueId).ConfigureAwait(false);
                    SchedulerLog.Deleted(_logger, queueId);
                    TraceDeleted(queueId);
                }
                catch (IOException e)
                {
                    SchedulerLog.ProcessingFailed(_logger, queueId, e);
                }
            }
            else if (next is { } due && !stopping.IsCancellationRequested)
            {
                Schedule(queueId, due);
            }
            Wake();
        }
    }

    /// <summary>One pass over a message: attempts its due recipients; returns when it is next due (null: done).</summary>
    private async Task<DateTimeOffset?> DeliverMessageAsync(string queueId, CancellationToken stopping)
    {
        bool retryRequested;
        lock (_gate) retryRequested = _retryRequested.Remove(queueId);
        Envelope envelope;
        try
        {
            using SpoolMessage message = _spool.Open(queueId);
            envelope = message.Envelope;
        }
        catch (FileNotFoundException)
        {
            return null;
        }

        DeliveryStateStore states = _spool.DeliveryStates;
        DeliveryState state = states.Load(envelope);
        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset arrival = envelope.ReceivedAt;
        var dsnReports = new List<DsnRecipientReport>();
        var successReports = new List<DsnRecipientReport>();

        if (_schedule.IsExpired(arrival, now))
        {
            for (int i = 0; i < state.Recipients.Count; i++)
            {
                RecipientDeliveryState r = state.Recipients[i];
                if (r.IsFinal) continue;
                RecipientDeliveryState expired = r with
                {
                    Status = RecipientStatus.Expired,
                    LastReply = r.LastReply ?? RecordedReply.Local(550, new EnhancedStatusCode(5, 4, 7), "delivery time expired"),
                };
                state = state.WithRecipient(i, expired);
                dsnReports.Add(DsnRecipientReport.FromState(envelope.Recipients[i], expired, DsnAction.Failed));
                SchedulerLog.Expired(_logger, queueId, expired, expired.LastReply, now - arrival);
                _trace.Record(new TraceEvent
                {
                    Time = now,
                    Kind = TraceEventKind.Expired,
                    QueueId = queueId,
                    Sender = envelope.Sender,
                    Recipient = r.Address,
                    Connector = r.Connector,
                    Reply = expired.LastReply.ToString(),
                    DurationMs = (long)(now - arrival).TotalMilliseconds,
                    Detail = "delivery time expired",
                });
            }
            await FinishAsync(envelope, dsnReports, stopping).ConfigureAwait(false);
            return null;
        }

        // Recipients due now, grouped by destination so each group shares a connection.
        OutboundRouter router = _router();
        var groups = new Dictionary<string, (DeliveryRoute Route, List<int> Indexes)>(StringComparer.Ordinal);
        for (int i = 0; i < state.Recipients.Count; i++)
        {
            RecipientDeliveryState r = state.Recipients[i];
            if (r.IsFinal || (!retryRequested && r.NextAttemptAt is { } at && at > now)) continue;
            DeliveryRoute route = router.Route(envelope.Recipients[i].Address);
            if (!groups.TryGetValue(route.DestinationKey, out var group))
                groups[route.DestinationKey] = group = (route, []);
            group.Indexes.Add(i);
        }

        if (groups.Count > 0)
        {
            state = state with { FirstAttemptAt = state.FirstAttemptAt ?? now };
            DeliveryAttemptResult[] results = await Task.WhenAll(groups.Values.Select(g =>
                AttemptAsync(new DeliveryJob(queueId, envelope, g.Route, g.Indexes), stopping))).ConfigureAwait(false);
            DateTimeOffset finished = _time.GetUtcNow();
            foreach ((DeliveryAttemptResult result, (DeliveryRoute route, _)) in results.Zip(groups.Values))
            {
                TraceAttempts(envelope, route, result);
                foreach (RecipientOutcome outcome in result.Outcomes)
                {
                    RecipientDeliveryState r = state.Recipients[outcome.Index];
                    int attempts = r.Attempts + 1;
                    RecipientDeliveryState updated = r with
                    {
                        Attempts = attempts,
                        LastAttemptAt = finished,
                        LastReply = outcome.Reply,
                        RemoteMta = outcome.RemoteMta ?? r.RemoteMta,
                        Connector = route.Connector,
                        Status = outcome.Kind switch
                        {
                            RecipientOutcomeKind.Delivered => RecipientStatus.Delivered,
                            RecipientOutcomeKind.Failed => RecipientStatus.Failed,
                            _ => RecipientStatus.Deferred,
                        },
                        NextAttemptAt = outcome.Kind == RecipientOutcomeKind.Deferred ? _schedule.NextAttempt(arrival, finished, attempts) : null,
                    };
                    state = state.WithRecipient(outcome.Index, updated);
                    SchedulerLog.Outcome(_logger, queueId, updated.Address, outcome, route, finished - arrival);
                    TraceOutcome(envelope, route, result, outcome, updated.Address, finished);
                    if (outcome.Kind == RecipientOutcomeKind.Failed)
                        dsnReports.Add(DsnRecipientReport.FromState(envelope.Recipients[outcome.Index], updated, DsnAction.Failed));
                    else if (outcome.Kind == RecipientOutcomeKind.Delivered)
                        successReports.Add(DsnRecipientReport.FromState(envelope.Recipients[outcome.Index], updated, DsnAction.Delivered));
                }
            }
        }

        now = _time.GetUtcNow();
        var delayReports = new List<DsnRecipientReport>();
        for (int i = 0; i < state.Recipients.Count; i++)
        {
            RecipientDeliveryState r = state.Recipients[i];
            if (r.Status == RecipientStatus.Deferred && !r.DelayNotified && _schedule.DelayWarningDue(arrival, now))
            {
                delayReports.Add(DsnRecipientReport.FromState(envelope.Recipients[i], r, DsnAction.Delayed, arrival + _schedule.Lifetime));
                state = state.WithRecipient(i, r with { DelayNotified = true });
            }
        }

        state = state with { UpdatedAt = now };
        await SendReportAsync(envelope, dsnReports, stopping).ConfigureAwait(false);
        await SendReportAsync(envelope, successReports, stopping).ConfigureAwait(false);
        await SendReportAsync(envelope, delayReports, stopping).ConfigureAwait(false);
        if (state.IsComplete)
        {
            await _spool.DeleteAsync(queueId, state.Stored).ConfigureAwait(false);
            SchedulerLog.Removed(_logger, queueId);
            return null;
        }
        await states.SaveAsync(state, CancellationToken.None).ConfigureAwait(false);
        return NextDue(state);
    }

    private void TraceAttempts(Envelope envelope, DeliveryRoute route, DeliveryAttemptResult result)
    {
        foreach (DeliveryHostAttempt attempt in result.Attempts)
        {
            _trace.Record(WithConnection(new TraceEvent
            {
                Time = attempt.Started,
                Kind = TraceEventKind.Attempt,
                QueueId = envelope.QueueId,
                Sender = envelope.Sender,
                Connector = route.Connector,
                TlsLevel = attempt.TlsLevel.ToString(),
                Reply = attempt.Reply,
                DurationMs = (long)attempt.Duration.TotalMilliseconds,
                Detail = attempt.Detail,
            }, attempt));
        }
    }

    /// <summary>One recipient's outcome, with the connection that gave the reply (the last host tried).</summary>
    private void TraceOutcome(Envelope envelope, DeliveryRoute route, DeliveryAttemptResult result, RecipientOutcome outcome, string recipient, DateTimeOffset finished)
    {
        var traceEvent = new TraceEvent
        {
            Time = finished,
            Kind = outcome.Kind switch
            {
                RecipientOutcomeKind.Delivered => TraceEventKind.Delivered,
                RecipientOutcomeKind.Failed => TraceEventKind.Bounced,
                _ => TraceEventKind.Deferred,
            },
            QueueId = envelope.QueueId,
            Sender = envelope.Sender,
            Recipient = recipient,
            Connector = route.Connector,
            TlsLevel = route.TlsLevel.ToString(),
            Reply = outcome.Reply.ToString(),
            DurationMs = (long)(finished - envelope.ReceivedAt).TotalMilliseconds,
        };
        _trace.Record(result.Attempts.Count > 0 ? WithConnection(traceEvent, result.Attempts[^1]) : traceEvent);
    }

    private static TraceEvent WithConnection(TraceEvent traceEvent, DeliveryHostAttempt attempt) => traceEvent with
    {
        RemoteHost = attempt.Host,
        RemoteAddress = attempt.Address,
        TlsProtocol = attempt.Tls?.Protocol,
        TlsCipher = attempt.Tls?.CipherSuite,
        CertificateSubject = attempt.Tls?.PeerCertificateSubject,
        CertificateNames = attempt.Tls is { PeerCertificateNames.Count: > 0 } tls ? tls.PeerCertificateNames : null,
        CertificateSha256 = attempt.Tls?.PeerCertificateSha256,
        Verification = attempt.Verification,
    };

    private void TraceDeleted(string queueId) => _trace.Record(new TraceEvent
    {
        Time = _time.GetUtcNow(),
        Kind = TraceEventKind.Deleted,
        QueueId = queueId,
        Detail = "deleted by the administrator",
    });

    private async Task FinishAsync(Envelope envelope, List<DsnRecipientReport> reports, CancellationToken stopping)
    {
        await SendReportAsync(envelope, reports, stopping).ConfigureAwait(false);
        await _spool.DeleteAsync(envelope.QueueId).ConfigureAwait(false);
        SchedulerLog.Removed(_logger, envelope.QueueId);
    }

    private async Task<DeliveryAttemptResult> AttemptAsync(DeliveryJob job, CancellationToken stopping)
    {
        SemaphoreSlim destination = _destinations.GetOrAdd(job.Route.DestinationKey, _ => new SemaphoreSlim(_limits.ConcurrentDeliveriesPerDestination));
        await _deliveries.WaitAsync(stopping).ConfigureAwait(false);
        try
        {
            await destination.WaitAsync(stopping).ConfigureAwait(false);
            try
            {
                return await _agent.DeliverAsync(job, () => _spool.Open(job.QueueId), stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                // Whatever went wrong is recorded as the recipients' reason, so the queue, the log
                // and a final report say it, instead of a silent retry.
                SchedulerLog.AttemptFailed(_logger, job.QueueId, e);
                var reply = RecordedReply.Local(451, new EnhancedStatusCode(4, 3, 0), $"delivery attempt failed: {e.GetType().Name}: {e.Message}");
                return new DeliveryAttemptResult { Outcomes = job.Recipients.Select(i => new RecipientOutcome(i, RecipientOutcomeKind.Deferred, reply, null)).ToArray() };
            }
            finally
            {
                destination.Release();
            }
        }
        finally
        {
            _deliveries.Release();
        }
    }

    /// <summary>Queues a DSN as a new message (null sender) in the same spool; the report is durable before the original's state moves on.</summary>
    private async Task SendReportAsync(Envelope original, List<DsnRecipientReport> reports, CancellationToken stopping)
    {
        if (reports.Count == 0) return;
        DeliveryStatusNotification? dsn;
        using (SpoolMessage message = _spool.Open(original.QueueId))
        {
            dsn = _dsn.Build(original, message.Content, reports);
        }
        if (dsn is null) return;
        string id = _spool.NewQueueId();
        Envelope envelope = dsn.CreateEnvelope(id, _hostName, _time.GetUtcNow());
        await using SpoolWriter writer = _spool.CreateWriter(envelope);
        await writer.WriteAsync(dsn.Content, stopping).ConfigureAwait(false);
        await writer.CommitAsync(stopping).ConfigureAwait(false);
        SchedulerLog.ReportQueued(_logger, original.QueueId, id, reports[0].Action.ToString().ToLowerInvariant(), dsn.Recipient);
        // The report is a message of its own: it enters the trace as received from this gateway.
        _trace.Record(new TraceEvent
        {
            Time = envelope.ReceivedAt,
            Kind = TraceEventKind.Received,
            QueueId = id,
            Sender = envelope.Sender,
            Size = writer.Length,
            Detail = $"{reports[0].Action.ToString().ToLowerInvariant()} notification for {original.QueueId}",
        });
        foreach (EnvelopeRecipient recipient in envelope.Recipients)
            _trace.Record(new TraceEvent { Time = envelope.ReceivedAt, Kind = TraceEventKind.Queued, QueueId = id, Sender = envelope.Sender, Recipient = recipient.Address });
    }

    private static DateTimeOffset? NextDue(DeliveryState state)
    {
        DateTimeOffset? next = null;
        foreach (RecipientDeliveryState r in state.Recipients)
        {
            if (r.IsFinal) continue;
            DateTimeOffset due = r.NextAttemptAt ?? DateTimeOffset.MinValue;
            if (next is null || due < next) next = due;
        }
        return next;
    }

    /// <summary>Stops starting attempts and waits for those in flight (their state is saved, or they are retried on the next start).</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        _spool.Committed -= Enqueue;
        if (_stopping.IsCancellationRequested) return;
        _draining = true;
        await Task.WhenAny(Task.WhenAll(_running.Keys), Task.Delay(grace)).ConfigureAwait(false);
        _stopping.Cancel();
        if (_loop is not null) await _loop.ConfigureAwait(false);
        await Task.WhenAny(Task.WhenAll(_running.Keys), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
