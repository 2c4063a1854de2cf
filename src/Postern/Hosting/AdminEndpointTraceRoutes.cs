using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;
using Postern.Tracing;

namespace Postern.Hosting;

/// <summary>
/// The message trace on the admin endpoint, read from <c>{dataDirectory}/trace/trace.db</c>:
/// <c>GET /trace?messageId=&amp;sender=&amp;recipient=&amp;since=&amp;until=&amp;status=&amp;connector=&amp;limit=&amp;details=</c>
/// and <c>GET /report/tls?since=&amp;until=</c>. Times are ISO 8601 or spans back from now ("7d").
/// 400 for a bad query, 503 when there is no trace database yet.
/// </summary>
public sealed class AdminEndpointTraceRoutes : IAdminEndpointRoutes
{
    /// <summary>The window of <c>/report/tls</c> without <c>since</c>.</summary>
    public static readonly TimeSpan DefaultReportWindow = TimeSpan.FromDays(7);

    private readonly string _dataDirectory;
    private readonly TimeProvider _time;

    public AdminEndpointTraceRoutes(string dataDirectory, TimeProvider time)
    {
        _dataDirectory = dataDirectory;
        _time = time;
    }

    public void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/trace", context => Trace(context.Request.Query).ExecuteAsync(context));
        routes.MapGet("/report/tls", context => Report(context.Request.Query).ExecuteAsync(context));
    }

    private IResult Trace(IQueryCollection query)
    {
        var problems = new List<string>();
        DateTimeOffset now = _time.GetUtcNow();
        int limit = TraceFilter.DefaultLimit;
        if (Value(query, "limit") is { } limitText && !int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit))
            problems.Add($"limit \"{limitText}\" is not a number");
        bool details = false;
        if (Value(query, "details") is { } detailsText && !bool.TryParse(detailsText, out details))
            problems.Add($"details \"{detailsText}\": expected true or false");
        var filter = new TraceFilter
        {
            MessageId = Value(query, "messageId"),
            Sender = Value(query, "sender"),
            Recipient = Value(query, "recipient"),
            Since = Time(query, "since", now, problems),
            Until = Time(query, "until", now, problems),
            Status = Value(query, "status"),
            Connector = Value(query, "connector"),
            Limit = limit,
            Details = details,
        };
        if (problems.Count == 0) problems.AddRange(filter.Problems());
        if (problems.Count > 0) return AdminEndpointResults.Error(StatusCodes.Status400BadRequest, string.Join("; ", problems));
        return Read(trace => TypedResults.Json(trace.Find(filter), TraceJsonContext.Readable.TraceResult));
    }

    private IResult Report(IQueryCollection query)
    {
        var problems = new List<string>();
        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset since = Time(query, "since", now, problems) ?? now - DefaultReportWindow;
        DateTimeOffset until = Time(query, "until", now, problems) ?? now;
        if (problems.Count == 0 && until <= since)
            problems.Add($"until ({TraceTimes.Format(until)}) is not after since ({TraceTimes.Format(since)})");
        if (problems.Count > 0) return AdminEndpointResults.Error(StatusCodes.Status400BadRequest, string.Join("; ", problems));
        return Read(trace => TypedResults.Json(trace.TlsReport(since, until), TraceJsonContext.Readable.TlsReport));
    }

    private IResult Read(Func<TraceQuery, IResult> answer)
    {
        try
        {
            using TraceQuery trace = TraceQuery.Open(_dataDirectory);
            return answer(trace);
        }
        catch (TraceStoreUnavailableException e)
        {
            return AdminEndpointResults.Error(StatusCodes.Status503ServiceUnavailable, e.Message);
        }
    }

    private static string? Value(IQueryCollection query, string name) =>
        query.TryGetValue(name, out StringValues values) && values.LastOrDefault() is { } value ? value : null;

    private static DateTimeOffset? Time(IQueryCollection query, string name, DateTimeOffset now, List<string> problems)
    {
        if (Value(query, name) is not { } text) return null;
        if (TraceTimes.TryParse(text, now, out DateTimeOffset time)) return time;
        problems.Add(TraceTimes.Problem(name, text));
        return null;
    }
}
