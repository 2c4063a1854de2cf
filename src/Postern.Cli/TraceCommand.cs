using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Postern.Tracing;

namespace Postern.Cli;

/// <summary>
/// <c>postern trace</c>: what happened to messages, from the trace database, through the running
/// gateway's admin endpoint or read directly (<c>--data-dir</c>). One line per message, newest
/// first; <c>--details</c> adds every event with its TLS facts.
/// </summary>
internal static class TraceCommand
{
    public static Command Create()
    {
        var messageId = new Option<string?>("--message-id") { Description = "The Message-ID header (angle brackets optional)." };
        var sender = new Option<string?>("--sender") { Description = "Envelope sender: an address (case-insensitive), or *@domain. The null sender is <>." };
        var recipient = new Option<string?>("--recipient") { Description = "Envelope recipient: an address (case-insensitive), or *@domain." };
        Option<string?> since = Since("Messages whose latest event is at or after this time: ISO 8601 (2026-11-29T05:00:00Z) or back from now (7d, 12h, 30m).");
        var until = new Option<string?>("--until") { Description = "Messages whose latest event is before this time: ISO 8601 or back from now (1d).", HelpName = "TIME" };
        var status = new Option<string?>("--status") { Description = $"Only messages in this state: {string.Join(", ", TraceSchema.Statuses)}.", HelpName = "STATUS" };
        var connector = new Option<string?>("--connector") { Description = "The inbound connector that admitted the message, or an outbound connector that tried it." };
        var limit = new Option<int>("--limit") { Description = "At most this many messages, newest first.", DefaultValueFactory = _ => TraceFilter.DefaultLimit };
        var details = new Option<bool>("--details") { Description = "Every event of each message, in time order, with its TLS facts." };
        Option<bool> json = Json();
        Option<FileInfo?> config = CommonOptions.Config();
        Option<DirectoryInfo?> dataDir = DataDir();
        var command = new Command("trace", "What happened to messages: received, queued, each delivery attempt with its TLS facts, delivered, deferred, bounced.")
        {
            messageId, sender, recipient, since, until, status, connector, limit, details, json, config, dataDir,
        };
        command.SetAction((parse, cancellation) =>
        {
            DateTimeOffset now = DateTimeOffset.UtcNow;
            var problems = new List<string>();
            var filter = new TraceFilter
            {
                MessageId = parse.GetValue(messageId),
                Sender = parse.GetValue(sender),
                Recipient = parse.GetValue(recipient),
                Since = Time(parse.GetValue(since), "--since", now, problems),
                Until = Time(parse.GetValue(until), "--until", now, problems),
                Status = parse.GetValue(status)?.ToLowerInvariant(),
                Connector = parse.GetValue(connector),
                Limit = parse.GetValue(limit),
                Details = parse.GetValue(details),
            };
            if (problems.Count == 0) problems.AddRange(filter.Problems());
            if (problems.Count > 0) return Task.FromResult(Fail(problems));
            return TraceSource.RunAsync(parse.GetValue(config), parse.GetValue(dataDir), "trace" + Query(filter),
                trace => JsonSerializer.Serialize(trace.Find(filter), TraceJsonContext.Readable.TraceResult),
                (body, output) => Print(Deserialize(body), filter, output), parse.GetValue(json), cancellation);
        });
        return command;
    }

    internal static Option<string?> Since(string description) => new("--since") { Description = description, HelpName = "TIME" };

    internal static Option<bool> Json() => new("--json") { Description = "Print the answer as JSON (as the admin endpoint gives it)." };

    internal static Option<DirectoryInfo?> DataDir() => new("--data-dir")
    {
        Description = "Read {DIR}/trace/trace.db directly (the gateway may be stopped) instead of asking the admin endpoint.",
        HelpName = "DIR",
    };

    internal static DateTimeOffset? Time(string? text, string name, DateTimeOffset now, List<string> problems)
    {
        if (text is null) return null;
        if (TraceTimes.TryParse(text, now, out DateTimeOffset time)) return time;
        problems.Add(TraceTimes.Problem(name, text));
        return null;
    }

    internal static int Fail(IEnumerable<string> problems)
    {
        foreach (string problem in problems) Console.Error.WriteLine($"postern: {problem}");
        return TraceSource.BadRequest;
    }

    /// <summary>The filter as the query string of <c>GET /trace</c> (times as ISO 8601, already resolved).</summary>
    internal static string Query(TraceFilter filter)
    {
        var parts = new List<string>();
        void Add(string name, string? value)
        {
            if (value is not null) parts.Add($"{name}={Uri.EscapeDataString(value)}");
        }
        Add("messageId", filter.MessageId);
        Add("sender", filter.Sender);
        Add("recipient", filter.Recipient);
        Add("since", filter.Since?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
        Add("until", filter.Until?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
        Add("status", filter.Status);
        Add("connector", filter.Connector);
        Add("limit", filter.Limit.ToString(CultureInfo.InvariantCulture));
        if (filter.Details) Add("details", "true");
        return "?" + string.Join('&', parts);
    }

    private static TraceResult Deserialize(string body) =>
        JsonSerializer.Deserialize(body, TraceJsonContext.Default.TraceResult) ?? throw new JsonException("empty answer");

    internal static void Print(TraceResult result, TraceFilter filter, TextWriter output)
    {
        if (result.Messages.Count == 0)
        {
            output.WriteLine("No message matches.");
            return;
        }
        foreach (TraceMessage message in result.Messages)
        {
            output.WriteLine(Line(message));
            if (message.Events is not { } events) continue;
            foreach (TraceEvent e in events) output.WriteLine($"    {Time(e.Time, milliseconds: true)}  {TraceSchema.KindName(e.Kind),-9}  {Describe(e)}");
            output.WriteLine();
        }
        if (result.More)
            output.WriteLine($"-- the newest {result.Count} shown; more match (--limit {Math.Min(TraceFilter.MaxLimit, filter.Limit * 10)}, or narrow the filter)");
    }

    /// <summary>"2026-11-29 02:41:05 UTC  0MX18FPWM00004GJUW  delivered  alice@example.org → bob@fabrikam.example  via Internal  &lt;id@host&gt;".</summary>
    internal static string Line(TraceMessage message)
    {
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{Time(message.LastTime)}  {message.QueueId}  {message.Status,-9}  {Sender(message.Sender)} → ");
        line.Append(message.Recipients.Count == 0 ? "(no recipients)" : string.Join(", ", message.Recipients));
        if (message.Connector is { } connector) line.Append(CultureInfo.InvariantCulture, $"  via {connector}");
        if (message.MessageId is { } id) line.Append(CultureInfo.InvariantCulture, $"  <{id}>");
        return line.ToString();
    }

    /// <summary>One event in the words of a mail log.</summary>
    internal static string Describe(TraceEvent e)
    {
        var text = new StringBuilder();
        void Part(string? value)
        {
            if (string.IsNullOrEmpty(value)) return;
            if (text.Length > 0) text.Append(' ');
            text.Append(value);
        }
        switch (e.Kind)
        {
            case TraceEventKind.Received:
                if (string.IsNullOrEmpty(e.ClientAddress))
                {
                    // A delivery status notification the gateway wrote itself.
                    Part("generated by the gateway");
                }
                else
                {
                    Part($"from {Client(e)}");
                    Part(Tls(e) ?? "no TLS");
                }
                if (e.Connector is { } inbound) Part($"via {inbound}");
                Part($"sender {Sender(e.Sender)}");
                if (e.Size is { } size) Part($"size={size.ToString(CultureInfo.InvariantCulture)}");
                if (e.MessageId is { } messageId) Part($"<{messageId}>");
                break;
            case TraceEventKind.Rejected:
                if (e.Recipient is { } rejected) Part(rejected);
                else Part($"sender {Sender(e.Sender)}");
                if (e.ClientAddress is not null) Part($"from {Client(e)}");
                if (e.Connector is { } at) Part($"via {at}");
                Part(e.Reply);
                break;
            case TraceEventKind.Queued:
                Part(e.Recipient);
                break;
            case TraceEventKind.Attempt:
                Part(Remote(e));
                Part(Tls(e));
                Part(e.Reply);
                if (e.DurationMs is { } took) Part($"({took.ToString(CultureInfo.InvariantCulture)} ms)");
                if (e.Connector is not null || e.TlsLevel is not null)
                    Part($"[{e.Connector ?? "default route"}{(e.TlsLevel is { } level ? ", " + level : "")}]");
                break;
            case TraceEventKind.Deleted:
                Part(e.Recipient);
                break;
            default:
                Part(e.Recipient);
                if (e.Connector is { } outbound) Part($"via {outbound}");
                Part(Remote(e));
                if (e.Kind == TraceEventKind.Delivered) Part(Tls(e));
                Part(e.Reply);
                if (e.DurationMs is { } delay) Part($"(delay={(delay / 1000.0).ToString("0.#", CultureInfo.InvariantCulture)}s)");
                break;
        }
        if (e.Detail is { } detail) Part(e.Kind == TraceEventKind.Deleted ? $"by {detail}" : $"({detail})");
        return text.ToString();
    }

    private static string Client(TraceEvent e) => $"{e.ClientName ?? "unknown"}[{e.ClientAddress}]";

    /// <summary>"mail.fabrikam.example[192.0.2.4]:25", or null when no host was talked to.</summary>
    private static string? Remote(TraceEvent e)
    {
        if (e.RemoteHost is null && e.RemoteAddress is null) return null;
        string host = e.RemoteHost ?? "unknown";
        if (e.RemoteAddress is not { } address) return host;
        if (IPEndPoint.TryParse(address, out IPEndPoint? endpoint) && endpoint.Port != 0)
            return $"{host}[{endpoint.Address}]:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}";
        return $"{host}[{address}]";
    }

    /// <summary>"TLSv1.3 TLS_AES_256_GCM_SHA384 Verified CN=mx.example sha256=AB…", or "no TLS".</summary>
    internal static string? Tls(TraceEvent e)
    {
        // A connection that failed before STARTTLS says nothing about TLS; one that carried mail does.
        if (e.TlsProtocol is null) return e.RemoteHost is not null && (e.Kind == TraceEventKind.Delivered || e.Reply?.StartsWith('2') == true) ? "no TLS" : null;
        var text = new StringBuilder(e.TlsProtocol);
        if (e.TlsCipher is { } cipher) text.Append(' ').Append(cipher);
        if (e.Verification is { } verification) text.Append(' ').Append(verification);
        if (e.CertificateSubject is { } subject) text.Append(' ').Append(subject);
        if (e.CertificateSha256 is { } sha) text.Append(" sha256=").Append(sha);
        return text.ToString();
    }

    internal static string Sender(string? sender) => string.IsNullOrEmpty(sender) ? "<>" : sender;

    internal static string Time(DateTimeOffset time, bool milliseconds = false) =>
        time.ToUniversalTime().ToString(milliseconds ? "yyyy-MM-dd HH:mm:ss.fff" : "yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
}
