using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Postern.Configuration;
using Postern.Hosting;
using Postern.Spool;

namespace Postern.Cli;

/// <summary>
/// <c>postern queue list|show|retry|delete</c>: administers the queue of a running gateway through
/// its admin endpoint (<c>gateway.admin</c> of <c>--config</c>, or the embedded default's).
/// Exit 0 done, 1 refused by the gateway (unknown id, queue held), 2 the gateway cannot be reached.
/// </summary>
internal static class QueueCommand
{
    private const int Refused = 1;
    private const int Unreachable = 2;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    public static Command Create()
    {
        var command = new Command("queue", "Show and manage the queue of a running gateway (through its admin endpoint).")
        {
            List(), Show(), Retry(), Delete(),
        };
        return command;
    }

    private static Command List()
    {
        Option<FileInfo?> config = CommonOptions.Config();
        Option<bool> json = Json();
        var command = new Command("list", "List queued messages: id, size, arrival, sender, and each recipient with its status and last reason (like mailq).")
        {
            config, json,
        };
        command.SetAction((parse, cancellation) => RunAsync(parse.GetValue(config), HttpMethod.Get, "queue", parse.GetValue(json), PrintListing, cancellation));
        return command;
    }

    private static Command Show()
    {
        Option<FileInfo?> config = CommonOptions.Config();
        Option<bool> json = Json();
        Argument<string> id = Id();
        var command = new Command("show", "Show one queued message: envelope, client and TLS facts, each recipient's delivery state, headers.")
        {
            id, config, json,
        };
        command.SetAction((parse, cancellation) => RunAsync(parse.GetValue(config), HttpMethod.Get, "queue/" + Uri.EscapeDataString(parse.GetValue(id)!), parse.GetValue(json), PrintEntry, cancellation));
        return command;
    }

    private static Command Retry()
    {
        Option<FileInfo?> config = CommonOptions.Config();
        var id = new Argument<string?>("id") { Description = "Queue id of the message.", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Retry every queued message." };
        var command = new Command("retry", "Attempt delivery now: one message (ID) or every message (--all).")
        {
            id, all, config,
        };
        command.Validators.Add(result =>
        {
            bool hasId = result.GetValue(id) is { Length: > 0 };
            bool hasAll = result.GetValue(all);
            if (hasId == hasAll) result.AddError("give either a queue id or --all");
        });
        command.SetAction((parse, cancellation) =>
        {
            string? queueId = parse.GetValue(id);
            string path = queueId is null ? "queue/retry" : $"queue/{Uri.EscapeDataString(queueId)}/retry";
            return RunAsync(parse.GetValue(config), HttpMethod.Post, path, json: false, (body, output) => PrintRetried(body, queueId, output), cancellation);
        });
        return command;
    }

    private static Command Delete()
    {
        Option<FileInfo?> config = CommonOptions.Config();
        Argument<string> id = Id();
        var command = new Command("delete", "Remove a message from the queue; it is not delivered and no report is sent.")
        {
            id, config,
        };
        command.SetAction((parse, cancellation) =>
        {
            string queueId = parse.GetValue(id)!;
            return RunAsync(parse.GetValue(config), HttpMethod.Delete, "queue/" + Uri.EscapeDataString(queueId), json: false, (_, output) => output.WriteLine($"{queueId}: deleted"), cancellation);
        });
        return command;
    }

    private static Option<bool> Json() => new("--json") { Description = "Print the admin endpoint's JSON as it is." };

    private static Argument<string> Id() => new("id") { Description = "Queue id of the message (as `postern queue list` shows it)." };

    /// <summary>One request to the admin endpoint; prints the answer (or why there is none) and returns the exit code.</summary>
    private static async Task<int> RunAsync(FileInfo? file, HttpMethod method, string path, bool json, Action<string, TextWriter> print, CancellationToken cancellation)
    {
        TextWriter output = Console.Out;
        TextWriter error = Console.Error;
        // Only the admin endpoint matters here, so the configuration's warnings are not repeated.
        PosternConfiguration? configuration = CommonOptions.LoadOrReport(file, TextWriter.Null, out int errors);
        if (configuration is null)
        {
            error.WriteLine($"postern: {errors} error(s) in {file?.FullName}, so the gateway's admin endpoint is unknown; run 'postern check-config --config {file?.FullName}' for details.");
            return Unreachable;
        }
        if (configuration.Gateway.Admin?.Endpoint is not { Length: > 0 } address)
        {
            error.WriteLine($"postern: {file?.FullName} has no gateway.admin endpoint, so its gateway cannot be administered.");
            return Unreachable;
        }
        EndPoint endpoint;
        try
        {
            endpoint = AdminEndpoint.ParseEndPoint(address);
        }
        catch (InvalidOperationException e)
        {
            error.WriteLine($"postern: {e.Message}");
            return Unreachable;
        }

        using HttpClient client = AdminClient.Create(endpoint, RequestTimeout);
        string body;
        HttpResponseMessage response;
        try
        {
            using var request = new HttpRequestMessage(method, path);
            response = await client.SendAsync(request, cancellation);
            body = await response.Content.ReadAsStringAsync(cancellation);
        }
        catch (HttpRequestException e)
        {
            error.WriteLine($"postern: cannot reach the gateway's admin endpoint at {address}: {AdminClient.Describe(e)}; is `postern serve` running?");
            return Unreachable;
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            error.WriteLine($"postern: the gateway's admin endpoint at {address} did not answer within {RequestTimeout.TotalSeconds:0} s.");
            return Unreachable;
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                error.WriteLine($"postern: {AdminClient.ErrorMessage(body, (int)response.StatusCode, response.ReasonPhrase)}");
                return (int)response.StatusCode is >= 400 and < 500 ? Refused : Unreachable;
            }
            try
            {
                if (json) output.WriteLine(body.TrimEnd());
                else print(body, output);
            }
            catch (JsonException e)
            {
                error.WriteLine($"postern: the admin endpoint at {address} answered with something that is not the queue's JSON: {e.Message}");
                return Unreachable;
            }
        }
        return 0;
    }

    private static void PrintListing(string body, TextWriter output)
    {
        AdminQueueListing listing = JsonSerializer.Deserialize(body, AdminEndpointJsonContext.Default.AdminQueueListing)
            ?? throw new JsonException("empty listing");
        DateTimeOffset now = DateTimeOffset.UtcNow;
        string held = listing.Held ? " (held: gateway.queue.hold is true, nothing is delivered)" : "";
        if (listing.Messages.Count == 0)
        {
            output.WriteLine($"Mail queue is empty{held}");
            return;
        }
        foreach (AdminQueueEntry entry in listing.Messages)
        {
            output.WriteLine($"{entry.Id}  {Size(entry.Size)}  {Time(entry.ReceivedAt)} ({Ago(entry.ReceivedAt, now)})  from {Sender(entry.Sender)}{StateNote(entry, now)}");
            foreach (AdminQueueRecipient recipient in entry.Recipients)
            {
                output.WriteLine($"    {Status(recipient.Status),-9}  {recipient.Address}{AttemptNote(recipient, now)}");
                if (recipient.LastReply is { } reply) output.WriteLine($"               {reply}");
            }
            output.WriteLine();
        }
        output.WriteLine($"-- {listing.Count} message{(listing.Count == 1 ? "" : "s")}, {Size(listing.TotalSize)} in queue{held}");
    }

    private static void PrintEntry(string body, TextWriter output)
    {
        AdminQueueEntryDetail entry = JsonSerializer.Deserialize(body, AdminEndpointJsonContext.Default.AdminQueueEntryDetail)
            ?? throw new JsonException("empty entry");
        DateTimeOffset now = DateTimeOffset.UtcNow;
        Envelope envelope = entry.Envelope;
        output.WriteLine($"Message {entry.Id} ({entry.State.ToString().ToLowerInvariant()})");
        Field(output, "size", $"{entry.Size.ToString("N0", CultureInfo.InvariantCulture)} bytes" + (envelope.DeclaredSize is { } declared ? $" (SIZE={declared.ToString(CultureInfo.InvariantCulture)})" : ""));
        Field(output, "received", $"{Time(entry.ReceivedAt)} ({Ago(entry.ReceivedAt, now)}) on {envelope.Listener} with {envelope.Protocol}");
        Field(output, "client", $"{envelope.ClientName ?? "unknown"} [{envelope.ClientAddress}]:{envelope.ClientPort.ToString(CultureInfo.InvariantCulture)}, HELO {envelope.HeloName}");
        Field(output, "TLS", envelope.Tls is { } tls ? DescribeTls(tls) : "none");
        Field(output, "connector", envelope.Connector is null ? "none" : envelope.Organization is null ? envelope.Connector : $"{envelope.Connector} ({envelope.Organization})");
        Field(output, "sender", Sender(envelope.Sender));
        var parameters = new List<string>();
        if (envelope.Body != BodyType.Unspecified) parameters.Add($"BODY={envelope.Body}");
        if (envelope.SmtpUtf8) parameters.Add("SMTPUTF8");
        if (envelope.Return != DsnReturn.Unspecified) parameters.Add($"RET={envelope.Return}");
        if (envelope.EnvelopeId is { } envid) parameters.Add($"ENVID={envid}");
        if (parameters.Count > 0) Field(output, "parameters", string.Join(' ', parameters));
        Field(output, "attempts", $"{entry.Attempts.ToString(CultureInfo.InvariantCulture)}"
            + (entry.FirstAttemptAt is { } first ? $", first {Time(first)}" : "")
            + (entry.NextAttemptAt is { } next ? $", next {Time(next)} ({Until(next, now)})" : ""));

        output.WriteLine();
        output.WriteLine("Recipients");
        for (int i = 0; i < entry.Recipients.Count; i++)
        {
            AdminQueueRecipient recipient = entry.Recipients[i];
            output.WriteLine($"  {Status(recipient.Status),-9}  {recipient.Address}");
            if (i < envelope.Recipients.Count && envelope.Recipients[i] is { } rcpt && (rcpt.Notify != DsnNotify.None || rcpt.OriginalRecipient is not null))
            {
                Detail(output, "DSN", (rcpt.Notify != DsnNotify.None ? $"NOTIFY={rcpt.Notify}" : "") + (rcpt.OriginalRecipient is { } orcpt ? $" ORCPT={orcpt}" : ""));
            }
            Detail(output, "attempts", recipient.Attempts.ToString(CultureInfo.InvariantCulture)
                + (recipient.LastAttemptAt is { } last ? $", last {Time(last)}" : "")
                + (recipient.NextAttemptAt is { } due ? $", next {Time(due)} ({Until(due, now)})" : ""));
            if (recipient.RemoteMta is { } mta) Detail(output, "remote MTA", mta);
            if (recipient.Connector is { } connector) Detail(output, "connector", connector);
            if (recipient.LastReply is { } reply) Detail(output, reply.IsLocal ? "reason" : "last reply", reply.ToString());
        }

        output.WriteLine();
        output.WriteLine(entry.HeadersTruncated ? "Headers (first 64 KB; no end of headers found)" : "Headers");
        foreach (string line in entry.Headers.TrimEnd('\r', '\n').Split('\n'))
            output.WriteLine("  " + line.TrimEnd('\r'));
    }

    private static void PrintRetried(string body, string? queueId, TextWriter output)
    {
        AdminRetryResult result = JsonSerializer.Deserialize(body, AdminEndpointJsonContext.Default.AdminRetryResult)
            ?? throw new JsonException("empty result");
        output.WriteLine(queueId is not null
            ? $"{queueId}: queued for delivery now"
            : $"{result.Retried} message{(result.Retried == 1 ? "" : "s")} queued for delivery now");
    }

    private static string DescribeTls(Postern.Tls.TlsSessionFacts tls)
    {
        var text = new StringBuilder($"{tls.Protocol} with cipher {tls.CipherSuite}");
        if (tls.CipherStrength is { } bits) text.Append(CultureInfo.InvariantCulture, $" ({bits}/{bits} bits)");
        if (tls.ServerName is { } sni) text.Append(CultureInfo.InvariantCulture, $", SNI {sni}");
        text.Append(tls.PeerCertificateSubject is { } subject
            ? $", client certificate \"{subject}\" issued by \"{tls.PeerCertificateIssuer}\" SHA-256 {tls.PeerCertificateSha256}"
            : ", no client certificate");
        return text.ToString();
    }

    private static void Field(TextWriter output, string name, string value) => output.WriteLine($"  {name,-11} {value}");

    private static void Detail(TextWriter output, string name, string value) => output.WriteLine($"               {name,-11} {value}");

    private static string StateNote(AdminQueueEntry entry, DateTimeOffset now) => entry.State switch
    {
        AdminQueueState.Active => "  [delivering]",
        AdminQueueState.Held => "  [held]",
        _ => "",
    };

    private static string AttemptNote(AdminQueueRecipient recipient, DateTimeOffset now)
    {
        if (recipient.Attempts == 0) return "";
        string note = $"  ({recipient.Attempts} attempt{(recipient.Attempts == 1 ? "" : "s")}";
        if (recipient.NextAttemptAt is { } next && recipient.Status is RecipientStatus.Deferred) note += $", next {Until(next, now)}";
        return note + ")";
    }

    private static string Status(RecipientStatus status) => status.ToString().ToLowerInvariant();

    private static string Sender(string sender) => sender.Length == 0 ? "<>" : $"<{sender}>";

    private static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private static string Ago(DateTimeOffset time, DateTimeOffset now) => Span(now - time) + " ago";

    private static string Until(DateTimeOffset time, DateTimeOffset now) => time <= now ? "due now" : "in " + Span(time - now);

    /// <summary>"42s", "5m 3s", "2h 10m", "3d 4h": the two largest units.</summary>
    private static string Span(TimeSpan span)
    {
        if (span < TimeSpan.Zero) span = TimeSpan.Zero;
        return span.TotalDays >= 1 ? $"{(int)span.TotalDays}d {span.Hours}h"
            : span.TotalHours >= 1 ? $"{(int)span.TotalHours}h {span.Minutes}m"
            : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes}m {span.Seconds}s"
            : $"{(int)span.TotalSeconds}s";
    }

    /// <summary>"512 bytes", "1.2 KB", "12 KB", "3.4 MB" (1 KB = 1024 bytes, as mailq counts).</summary>
    private static string Size(long bytes)
    {
        if (bytes < 1024) return $"{bytes} byte{(bytes == 1 ? "" : "s")}";
        double kb = bytes / 1024.0;
        if (kb < 1024) return kb < 10 ? $"{kb.ToString("0.0", CultureInfo.InvariantCulture)} KB" : $"{kb.ToString("0", CultureInfo.InvariantCulture)} KB";
        double mb = kb / 1024.0;
        return mb < 10 ? $"{mb.ToString("0.0", CultureInfo.InvariantCulture)} MB" : $"{mb.ToString("0", CultureInfo.InvariantCulture)} MB";
    }
}
