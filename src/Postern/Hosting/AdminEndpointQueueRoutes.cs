using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Postern.Delivery;
using Postern.Spool;
using Postern.Tracing;

namespace Postern.Hosting;

/// <summary>
/// Queue administration on the admin endpoint, read straight from the spool (the state on disk is
/// the truth), with retry and delete through the scheduler:
/// <c>GET /queue</c>, <c>GET /queue/{id}</c>, <c>POST /queue/{id}/retry</c>, <c>POST /queue/retry</c>,
/// <c>DELETE /queue/{id}</c>.
/// </summary>
public sealed class AdminEndpointQueueRoutes : IAdminEndpointRoutes
{
    /// <summary>How much of a message is read to find its header section.</summary>
    public const int MaxHeaderBytes = 64 * 1024;

    private readonly MessageSpool _spool;
    private readonly QueueScheduler? _scheduler;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ITraceSink _trace;

    /// <param name="scheduler">Null while the queue is held: listing and deleting work, retrying is refused.</param>
    public AdminEndpointQueueRoutes(MessageSpool spool, QueueScheduler? scheduler, TimeProvider time, ILogger logger, ITraceSink? trace = null)
    {
        _trace = trace ?? NullTraceSink.Instance;
        _spool = spool;
        _scheduler = scheduler;
        _time = time;
        _logger = logger;
    }

    public void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/queue", context => List().ExecuteAsync(context));
        routes.MapGet("/queue/{id}", context => Show(Id(context)).ExecuteAsync(context));
        routes.MapPost("/queue/retry", context => RetryAll().ExecuteAsync(context));
        routes.MapPost("/queue/{id}/retry", context => Retry(Id(context)).ExecuteAsync(context));
        routes.MapDelete("/queue/{id}", async context => await (await DeleteAsync(Id(context)).ConfigureAwait(false)).ExecuteAsync(context).ConfigureAwait(false));
    }

    private static string Id(HttpContext context) => context.Request.RouteValues["id"] as string ?? "";

    private IResult List()
    {
        var entries = new List<AdminQueueEntry>();
        DateTimeOffset now = _time.GetUtcNow();
        foreach (string queueId in _spool.ListQueueIds())
        {
            // Delivered or deleted since the directory was listed: no longer in the queue.
            if (Read(queueId, now, detail: false) is { } entry) entries.Add(entry);
        }
        var listing = new AdminQueueListing
        {
            Held = _scheduler is null,
            Count = entries.Count,
            TotalSize = entries.Sum(e => e.Size),
            Messages = entries,
        };
        return TypedResults.Json(listing, AdminEndpointJsonContext.Readable.AdminQueueListing);
    }

    private IResult Show(string queueId)
    {
        if (!IsQueued(queueId) || Read(queueId, _time.GetUtcNow(), detail: true) is not AdminQueueEntryDetail entry)
            return NotQueued(queueId);
        return TypedResults.Json(entry, AdminEndpointJsonContext.Readable.AdminQueueEntryDetail);
    }

    private IResult Retry(string queueId)
    {
        if (!IsQueued(queueId)) return NotQueued(queueId);
        if (_scheduler is null) return Held();
        if (!_scheduler.RetryNow(queueId)) return NotQueued(queueId);
        AdminEndpointLog.RetryRequested(_logger, queueId);
        return TypedResults.Json(new AdminRetryResult(1), AdminEndpointJsonContext.Readable.AdminRetryResult);
    }

    private IResult RetryAll()
    {
        if (_scheduler is null) return Held();
        int count = _scheduler.RetryAll();
        AdminEndpointLog.RetryAllRequested(_logger, count);
        return TypedResults.Json(new AdminRetryResult(count), AdminEndpointJsonContext.Readable.AdminRetryResult);
    }

    private async Task<IResult> DeleteAsync(string queueId)
    {
        if (!IsQueued(queueId)) return NotQueued(queueId);
        if (_scheduler is not null)
        {
            if (!await _scheduler.DeleteAsync(queueId).ConfigureAwait(false)) return NotQueued(queueId);
        }
        else
        {
            // Held: nothing else touches the entry.
            await _spool.DeleteAsync(queueId).ConfigureAwait(false);
            _trace.Record(new TraceEvent { Time = _time.GetUtcNow(), Kind = TraceEventKind.Deleted, QueueId = queueId, Detail = "deleted by the administrator" });
        }
        AdminEndpointLog.DeletedByAdministrator(_logger, queueId);
        return TypedResults.Json(new AdminDeleteResult(1), AdminEndpointJsonContext.Readable.AdminDeleteResult);
    }

    /// <summary>Only a well-formed id reaches the file system, so a path in the URL cannot.</summary>
    private bool IsQueued(string queueId) => QueueIdGenerator.IsValid(queueId) && File.Exists(_spool.QueueEntryPath(queueId));

    private static IResult NotQueued(string queueId) =>
        AdminEndpointResults.Error(StatusCodes.Status404NotFound, $"no message {queueId} in the queue");

    private static IResult Held() =>
        AdminEndpointResults.Error(StatusCodes.Status409Conflict, "the queue is held (gateway.queue.hold is true): nothing is delivered, so nothing can be retried");

    private AdminQueueEntry? Read(string queueId, DateTimeOffset now, bool detail)
    {
        Envelope envelope;
        long size;
        string headers = "";
        bool truncated = false;
        try
        {
            using SpoolMessage message = _spool.Open(queueId);
            envelope = message.Envelope;
            size = message.ContentLength;
            if (detail) (headers, truncated) = ReadHeaders(message.Content, message.ContentLength);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        DeliveryState state = _spool.DeliveryStates.Load(envelope);

        AdminQueueRecipient[] recipients = state.Recipients.Select(r => new AdminQueueRecipient
        {
            Address = r.Address,
            Status = r.Status,
            Attempts = r.Attempts,
            LastAttemptAt = r.LastAttemptAt,
            NextAttemptAt = r.NextAttemptAt,
            LastReply = r.LastReply,
            RemoteMta = r.RemoteMta,
            Connector = r.Connector,
        }).ToArray();
        DateTimeOffset? due = _scheduler?.DueAt(queueId);
        DateTimeOffset? earliest = state.Recipients.Where(r => !r.IsFinal && r.NextAttemptAt is not null).Min(r => r.NextAttemptAt);
        AdminQueueState queueState = _scheduler is null ? AdminQueueState.Held
            : due is null ? AdminQueueState.Active
            : AdminQueueState.Waiting;
        int attempts = state.Recipients.Count == 0 ? 0 : state.Recipients.Max(r => r.Attempts);
        long age = (long)Math.Max(0, (now - envelope.ReceivedAt).TotalSeconds);

        if (!detail)
        {
            return new AdminQueueEntry
            {
                Id = queueId,
                Sender = envelope.Sender,
                Size = size,
                ReceivedAt = envelope.ReceivedAt,
                AgeSeconds = age,
                State = queueState,
                Attempts = attempts,
                NextAttemptAt = due ?? earliest,
                Recipients = recipients,
            };
        }
        return new AdminQueueEntryDetail
        {
            Id = queueId,
            Sender = envelope.Sender,
            Size = size,
            ReceivedAt = envelope.ReceivedAt,
            AgeSeconds = age,
            State = queueState,
            Attempts = attempts,
            NextAttemptAt = due ?? earliest,
            Recipients = recipients,
            FirstAttemptAt = state.FirstAttemptAt,
            Envelope = envelope,
            Headers = headers,
            HeadersTruncated = truncated,
        };
    }

    /// <summary>The header section up to and including the line before the blank line (RFC 5322 2.1).</summary>
    private static (string Headers, bool Truncated) ReadHeaders(Stream content, long length)
    {
        byte[] buffer = new byte[(int)Math.Min(MaxHeaderBytes, length)];
        int read = content.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        ReadOnlySpan<byte> bytes = buffer.AsSpan(0, read);
        int end = bytes.IndexOf("\r\n\r\n"u8);
        if (end >= 0) return (Encoding.UTF8.GetString(bytes[..(end + 2)]), false);
        end = bytes.IndexOf("\n\n"u8);
        if (end >= 0) return (Encoding.UTF8.GetString(bytes[..(end + 1)]), false);
        return (Encoding.UTF8.GetString(bytes), length > read);
    }
}
