using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Postern.Hosting;
using Postern.Tracing;

namespace Postern.Cli;

/// <summary>
/// <c>postern report tls</c>: outbound transport security per destination domain and outbound
/// connector over a window (default the last 7 days), from the trace database.
/// </summary>
internal static class ReportCommand
{
    public static Command Create() => new("report", "Reports over the message trace.") { Tls() };

    private static Command Tls()
    {
        Option<string?> since = TraceCommand.Since("Start of the window: ISO 8601 or back from now (default 7d).");
        var until = new Option<string?>("--until") { Description = "End of the window: ISO 8601 or back from now (default now).", HelpName = "TIME" };
        Option<bool> json = TraceCommand.Json();
        Option<FileInfo?> config = CommonOptions.Config();
        Option<DirectoryInfo?> dataDir = TraceCommand.DataDir();
        var command = new Command("tls", "Outbound TLS per destination domain and connector: delivered with verified TLS, with unverified TLS, without TLS, held by TLS policy, and why recipients were not delivered.")
        {
            since, until, json, config, dataDir,
        };
        command.SetAction((parse, cancellation) =>
        {
            DateTimeOffset now = DateTimeOffset.UtcNow;
            var problems = new List<string>();
            DateTimeOffset from = TraceCommand.Time(parse.GetValue(since), "--since", now, problems) ?? now - AdminEndpointTraceRoutes.DefaultReportWindow;
            DateTimeOffset to = TraceCommand.Time(parse.GetValue(until), "--until", now, problems) ?? now;
            if (problems.Count == 0 && to <= from) problems.Add($"--until ({TraceTimes.Format(to)}) is not after --since ({TraceTimes.Format(from)})");
            if (problems.Count > 0) return Task.FromResult(TraceCommand.Fail(problems));
            string query = $"report/tls?since={Uri.EscapeDataString(from.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))}&until={Uri.EscapeDataString(to.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))}";
            return TraceSource.RunAsync(parse.GetValue(config), parse.GetValue(dataDir), query,
                trace => JsonSerializer.Serialize(trace.TlsReport(from, to), TraceJsonContext.Readable.TlsReport),
                (body, output) => Print(JsonSerializer.Deserialize(body, TraceJsonContext.Default.TlsReport) ?? throw new JsonException("empty report"), output),
                parse.GetValue(json), cancellation);
        });
        return command;
    }

    private static readonly string[] Headings = ["verified", "unverified", "no TLS", "held", "failed"];

    internal static void Print(TlsReport report, TextWriter output)
    {
        output.WriteLine($"Outbound TLS from {TraceTimes.Format(report.Since)} to {TraceTimes.Format(report.Until)}, per recipient by its last outcome");
        output.WriteLine();
        if (report.Rows.Count == 0)
        {
            output.WriteLine("No recipient was delivered, deferred, bounced or expired in that time.");
            return;
        }
        int domainWidth = Math.Max("domain".Length, report.Rows.Max(r => r.Domain?.Length ?? 0));
        int connectorWidth = Math.Max("connector".Length, report.Rows.Max(r => Connector(r).Length));
        int[] widths = Headings.Select(h => Math.Max(h.Length, Count(report.Total, h).Length)).ToArray();

        void Row(string domain, string connector, Func<string, string> cell)
        {
            var line = $"{domain.PadRight(domainWidth)}  {connector.PadRight(connectorWidth)}";
            for (int i = 0; i < Headings.Length; i++) line += "  " + cell(Headings[i]).PadLeft(widths[i]);
            output.WriteLine(line.TrimEnd());
        }

        Row("domain", "connector", h => h);
        foreach (TlsReportRow row in report.Rows) Row(row.Domain ?? "", Connector(row), h => Count(row, h));
        Row("total", "", h => Count(report.Total, h));

        if (report.Reasons.Count == 0) return;
        output.WriteLine();
        output.WriteLine("Top reasons recipients were not delivered");
        int countWidth = report.Reasons.Max(r => Number(r.Count).Length);
        foreach (TlsReportReason reason in report.Reasons)
            output.WriteLine($"  {Number(reason.Count).PadLeft(countWidth)}  {reason.Reason}{(reason.Policy ? "  [TLS policy]" : "")}");
        TlsReportRow[] failing = report.Rows.Where(r => r.Reasons.Count > 0).ToArray();
        if (failing.Length < 2) return;
        output.WriteLine();
        output.WriteLine("By domain and connector");
        foreach (TlsReportRow row in failing)
        {
            output.WriteLine($"  {row.Domain} via {Connector(row)}");
            foreach (TlsReportReason reason in row.Reasons)
                output.WriteLine($"    {Number(reason.Count).PadLeft(countWidth)}  {reason.Reason}{(reason.Policy ? "  [TLS policy]" : "")}");
        }
    }

    private static string Connector(TlsReportRow row) => row.Connector ?? "(MX, no connector)";

    private static string Count(TlsReportRow row, string heading) => Number(heading switch
    {
        "verified" => row.Verified,
        "unverified" => row.Unverified,
        "no TLS" => row.NoTls,
        "held" => row.Held,
        _ => row.Failed,
    });

    private static string Number(int value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
