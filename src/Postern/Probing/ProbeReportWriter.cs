using System.Globalization;

namespace Postern.Probing;

/// <summary>Writes a <see cref="ProbeReport"/> for people; ANSI colour only when asked.</summary>
public sealed class ProbeReportWriter
{
    private readonly TextWriter _out;
    private readonly bool _colour;

    /// <summary>Creates a writer; <paramref name="colour"/> only for a terminal without NO_COLOR.</summary>
    public ProbeReportWriter(TextWriter output, bool colour)
    {
        _out = output;
        _colour = colour;
    }

    /// <summary>Whether colour suits standard output: a terminal, and NO_COLOR unset or empty (no-color.org).</summary>
    public static bool ColourWanted() =>
        !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    /// <summary>Writes the whole report.</summary>
    public void Write(ProbeReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        Line($"probe {report.Target}{(report.ImplicitTls ? " (implicit TLS)" : "")}");
        if (report.Dns is { } dns)
        {
            var via = dns.Server is null ? "" : $" via {dns.Server}";
            if (dns.Error is not null)
            {
                Line($"  DNS{via}: {Red(dns.Error)}");
            }
            else if (dns.ImplicitMx)
            {
                Line($"  DNS{via}: no MX records; the domain itself is the mail host (implicit MX)");
            }
            else
            {
                foreach (var mx in dns.Mx)
                {
                    Line($"  MX {mx.Preference,3} {mx.Host}{via}");
                }
            }
        }

        foreach (var host in report.Hosts)
        {
            _out.WriteLine();
            WriteHost(host);
        }

        _out.WriteLine();
        var summary = report.ExitCode switch
        {
            0 => Green("PASS: every check passed"),
            1 => Red("FAIL: a policy check failed"),
            _ => Red("ERROR: a host was unreachable or broke the protocol"),
        };
        Line($"result: {summary} (exit {report.ExitCode})");
    }

    private void WriteHost(HostReport host)
    {
        var preference = host.MxPreference is { } p ? $" (MX {p})" : "";
        Line(Bold($"{host.Host} port {host.Port}{preference}"));
        foreach (var address in host.Addresses)
        {
            Field("address", address.Outcome switch
            {
                "connected" => $"{address.Address} connected",
                "failed" => $"{address.Address} {Red("failed")}: {address.Error}",
                _ => $"{address.Address} not tried",
            });
        }

        if (host.StartTls?.Outcome == "implicit" && host.Tls is not null)
        {
            Field("TLS", "implicit (handshake before the banner)");
        }

        if (host.Banner is { } banner)
        {
            Field("banner", FormatReply(banner));
        }

        if (host.Hello is { } hello)
        {
            WriteHello("EHLO", hello);
        }

        if (host.StartTls is { } startTls && startTls.Outcome != "implicit")
        {
            Field("STARTTLS", startTls.Outcome switch
            {
                "established" => FormatReply(startTls.Reply!),
                "notOffered" => Red("not offered"),
                "refused" => Red($"refused: {FormatReply(startTls.Reply!)}"),
                _ => Red(startTls.Error ?? startTls.Outcome),
            });
        }

        if (host.Tls is { } tls)
        {
            var openSsl = tls.CipherSuiteOpenSsl is { } o && o != tls.CipherSuite ? $" ({o})" : "";
            var bits = tls.CipherBits is { } b ? $", {b.ToString(CultureInfo.InvariantCulture)} bits" : "";
            Field("TLS", $"{tls.Protocol} {tls.CipherSuite}{openSsl}{bits}; SNI {tls.ServerName ?? "(none)"}");
        }

        if (host.HelloAfterTls is { } after)
        {
            WriteHello(host.StartTls?.Outcome == "implicit" ? "EHLO" : "EHLO (TLS)", after);
        }

        if (host.PresentedChain.Count > 0)
        {
            Line($"  certificates as presented ({host.PresentedChain.Count}):");
            foreach (var c in host.PresentedChain)
            {
                WriteCertificate(c);
            }
        }

        if (host.BuiltChain is { } chain)
        {
            Field("chain", chain.Trusted
                ? Green("trusted: ") + string.Join(" -> ", chain.Subjects.Select(Short))
                : Red($"not trusted: {chain.Problem}"));
        }

        foreach (var name in host.Names)
        {
            Field("name", name.MatchedBy is { } by
                ? $"{name.Name} ({name.Source}) {Green("matches")} via {by}"
                : $"{name.Name} ({name.Source}) {Red("does not match")}");
        }

        foreach (var verdict in host.Verdicts)
        {
            var label = verdict.Name is null ? verdict.Level : $"{verdict.Level} {verdict.Name}";
            var result = verdict.Passed ? Green("pass") : verdict.IsCheck ? Red("FAIL") : Yellow("fail");
            Field("level", $"{label,-48} {result}{(verdict.Reason is null ? "" : $": {verdict.Reason}")}");
        }

        if (host.Versions is { } versions)
        {
            foreach (var v in versions)
            {
                var text = v.Result switch
                {
                    "accepted" => Green("accepted") + $" ({v.CipherSuite})",
                    "rejected" => "rejected",
                    "notTestableHere" => Yellow("not testable here") + $": {v.Detail}",
                    _ => Red("error") + $": {v.Detail}",
                };
                Field("version", $"{v.Protocol,-8} {text}");
            }
        }

        if (host.CipherSuites is { } suites)
        {
            Field("ciphers", $"{suites.Accepted.Count} accepted of {suites.Tried} tried{(suites.Error is null ? "" : $"; stopped: {suites.Error}")}");
            foreach (var s in suites.Accepted)
            {
                Field("", $"{s.Protocol,-8} {s.CipherSuite}");
            }

            if (suites.NotTestableHere.Count > 0)
            {
                Field("", Yellow($"not testable here: {string.Join(", ", suites.NotTestableHere)}"));
            }
        }

        foreach (var warning in host.Warnings)
        {
            Field("warning", Yellow(warning));
        }

        if (host.Error is { } error)
        {
            Field("error", Red(Clean(error.Message)));
        }

        var status = host.Status switch
        {
            "pass" => Green("pass"),
            "policyFailed" => Red("policy check failed"),
            _ => Red("error"),
        };
        Field("status", $"{status} ({host.ElapsedMilliseconds.ToString(CultureInfo.InvariantCulture)} ms)");
    }

    private void WriteHello(string label, HelloReport hello)
    {
        Field(label, Clean($"{hello.Reply.Code} {hello.Reply.Lines[0]}{(hello.Command == "HELO" ? " (EHLO refused; HELO)" : "")}"));
        if (hello.Extensions.Count > 0)
        {
            Field("", Clean(string.Join(", ", hello.Extensions)));
        }
    }

    private void WriteCertificate(CertificateReport c)
    {
        Line($"    [{c.Position}] {c.Subject}");
        Sub("issuer", c.Issuer);
        if (c.DnsNames.Count > 0 || c.IpAddresses.Count > 0)
        {
            Sub("SANs", string.Join(", ", c.DnsNames.Select(n => $"DNS:{n}").Concat(c.IpAddresses.Select(a => $"IP:{a}"))));
        }

        Sub("serial", c.SerialNumber);
        var days = c.Expired ? Red(c.DaysLeft < 0 ? $"EXPIRED {-c.DaysLeft} days ago" : "NOT YET VALID")
            : c.ExpiresSoon ? Yellow($"{c.DaysLeft} days left") : $"{c.DaysLeft} days left";
        Sub("valid", $"{c.NotBefore:yyyy-MM-dd HH:mm:ss}Z to {c.NotAfter:yyyy-MM-dd HH:mm:ss}Z ({days})");
        var key = c.Curve is null ? $"{c.KeyType} {c.KeySize}" : $"{c.KeyType} {c.Curve}";
        Sub("key", $"{key}; signed with {c.SignatureAlgorithm}{(c.IsCertificateAuthority ? "; CA" : "")}");
        Sub("sha256", CertificateInspector.WithColons(c.Sha256));
        Sub("pkey sha256", CertificateInspector.WithColons(c.PublicKeySha256));
    }

    private static string FormatReply(ReplyReport reply)
    {
        var status = reply.EnhancedStatus is null ? "" : reply.EnhancedStatus + " ";
        var text = string.Join(" / ", reply.Lines);
        return Clean($"{reply.Code} {status}{text}");
    }

    /// <summary>Server text with control characters escaped, so that a hostile server cannot drive the terminal.</summary>
    private static string Clean(string text)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        var builder = new System.Text.StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString());
        }

        return builder.ToString();
    }

    private static string Short(string subject)
    {
        var cn = subject.Split(',').Select(p => p.Trim()).FirstOrDefault(p => p.StartsWith("CN=", StringComparison.Ordinal));
        return cn ?? subject;
    }

    private void Line(string text) => _out.WriteLine(text);

    private void Field(string label, string value) => _out.WriteLine($"  {label,-10} {value}");

    private void Sub(string label, string value) => _out.WriteLine($"        {label,-12} {value}");

    private string Green(string text) => _colour ? $"\u001b[32m{text}\u001b[0m" : text;

    private string Red(string text) => _colour ? $"\u001b[31m{text}\u001b[0m" : text;

    private string Yellow(string text) => _colour ? $"\u001b[33m{text}\u001b[0m" : text;

    private string Bold(string text) => _colour ? $"\u001b[1m{text}\u001b[0m" : text;
}
