using System.CommandLine;
using System.Text.Json;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Probing;

namespace Postern.Cli;

/// <summary>
/// <c>postern connector validate NAME</c>: runs an outbound connector's exact policy against its
/// smart hosts or MX hosts now, step by step. Exit 0 every host passed every step, 1 a step or the
/// policy failed, 2 a usage or configuration error.
/// </summary>
internal static class ConnectorCommand
{
    private const int UsageError = 2;

    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "The outbound connector's name (case-insensitive)." };
        Option<FileInfo?> config = CommonOptions.Config();
        var recipient = new Option<string?>("--recipient") { Description = "Send a test message to this address (and, for MX connectors, resolve its domain)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON (docs/connectors.md, schemaVersion 1)." };
        var timeout = new Option<double>("--timeout") { Description = "Seconds allowed for each step (DNS, connect, banner, EHLO, STARTTLS, each command).", DefaultValueFactory = _ => 30 };
        var validate = new Command("validate", "Run an outbound connector's TLS policy against its smart hosts or MX hosts now, step by step.")
        {
            name, config, recipient, json, timeout,
        };
        validate.SetAction(async (parse, cancellation) => await RunAsync(
            new Settings(parse.GetValue(name)!, parse.GetValue(config), parse.GetValue(recipient), parse.GetValue(json), parse.GetValue(timeout)),
            Console.Out, Console.Error, ProbeReportWriter.ColourWanted(), cancellation));
        return new Command("connector", "Outbound connectors.") { validate };
    }

    /// <summary>Everything the command line gave.</summary>
    internal sealed record Settings(string Name, FileInfo? Config, string? Recipient, bool Json, double TimeoutSeconds);

    internal static async Task<int> RunAsync(Settings settings, TextWriter output, TextWriter error, bool colour, CancellationToken cancellation)
    {
        if (settings.TimeoutSeconds is <= 0 or > 3600 || double.IsNaN(settings.TimeoutSeconds))
        {
            error.WriteLine("postern connector validate: --timeout must be between 0 and 3600 seconds");
            return UsageError;
        }

        PosternConfiguration? configuration = CommonOptions.LoadOrReport(settings.Config, error, out int errors);
        if (configuration is null)
        {
            error.WriteLine($"{errors} error(s); the configuration cannot be used.");
            return UsageError;
        }

        ConnectorValidationReport report;
        try
        {
            report = await new ConnectorValidator(configuration).ValidateAsync(new ConnectorValidationOptions
            {
                Connector = settings.Name,
                Recipient = settings.Recipient,
                Timeout = TimeSpan.FromSeconds(settings.TimeoutSeconds),
            }, cancellation);
        }
        catch (ConnectorValidationException e)
        {
            error.WriteLine($"postern connector validate: {e.Message}");
            return UsageError;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            error.WriteLine("postern connector validate: interrupted");
            return 130;
        }

        if (settings.Json) output.WriteLine(JsonSerializer.Serialize(report, ConnectorValidationJsonContext.Readable.ConnectorValidationReport));
        else Write(report, output, colour);
        return report.Passed ? 0 : 1;
    }

    private static void Write(ConnectorValidationReport report, TextWriter output, bool colour)
    {
        ConnectorValidationPolicy policy = report.Policy;
        output.WriteLine($"connector \"{report.Connector}\" ({report.Organization})");
        output.WriteLine($"  policy: {policy.TlsSettings}{(policy.TlsDomain is { } d ? $", tlsDomain {d}" : "")}, {policy.Pins} pinned fingerprint(s), "
            + $"{policy.TrustedRoots} extra root bundle(s), testMode {(policy.TestMode ? "on" : "off")}");
        output.WriteLine($"  client certificate: {policy.ClientCertificate ?? "none"}");
        foreach (HostValidation host in report.Hosts)
        {
            output.WriteLine();
            output.WriteLine($"host {host.Host} port {host.Port}{(host.Addresses.Count > 0 ? $" ({string.Join(", ", host.Addresses)})" : "")}");
            foreach (ValidationStep step in host.Steps)
                output.WriteLine($"  {Mark(step.Passed, colour)} {step.Name,-12} {step.Detail}");
            if (host.Certificate is { } c)
            {
                output.WriteLine($"  certificate  {c.Subject}, issuer {c.Issuer}");
                output.WriteLine($"               names presented: {(c.Names.Count == 0 ? "none" : string.Join(", ", c.Names))}; expected: {string.Join(", ", c.ExpectedNames)}"
                    + $"{(c.MatchedBy is { } m ? $" (matched by {m})" : " (no match)")}");
                output.WriteLine($"               not after {c.NotAfter:yyyy-MM-dd HH:mm:ss}Z ({c.DaysLeft} days left); sha256 {c.Sha256}");
                output.WriteLine($"               chain: {string.Join(" <- ", c.Chain)} ({(c.ChainTrusted ? "trusted" : $"not trusted: {c.ChainProblem}")})");
            }
            output.WriteLine($"  verdict: {(host.Verdict == "pass" ? Paint("pass", "32", colour) : Paint("fail", "31", colour) + $" at {host.Reason}")}");
        }
        int passed = report.Hosts.Count(h => h.Verdict == "pass");
        output.WriteLine();
        output.WriteLine($"{(report.Passed ? Paint("PASSED", "32", colour) : Paint("FAILED", "31", colour))}: {passed} of {report.Hosts.Count} host(s) passed every step");
    }

    private static string Mark(bool passed, bool colour) => passed ? Paint("pass", "32", colour) : Paint("FAIL", "31", colour);

    private static string Paint(string text, string code, bool colour) => colour ? $"\u001b[{code}m{text}\u001b[0m" : text;
}
