using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Postern.Delivery;
using Postern.Probing;
using Postern.Tls;


namespace Postern.Cli;

/// <summary>
/// <c>postern probe TARGET</c>: what an SMTP server presents (capabilities, TLS, certificates) and
/// what every outbound TLS level would decide. Exit 0 every check passed, 1 a policy check failed,
/// 2 unreachable, a protocol error or a usage error.
/// </summary>
internal static class ProbeCommand
{
    private const int UsageError = 2;

    public static Command Create()
    {
        var target = new Argument<string>("target")
        {
            Description = "A domain (its MX hosts, or the implicit MX), host:port, [host], [ip]:port or an IP address.",
        };
        var implicitTls = new Option<bool>("--implicit-tls") { Description = "TLS at once after connecting (port 465) instead of STARTTLS." };
        var serverName = new Option<string?>("--servername") { Description = "SNI to send (default: the host name)." };
        var noSni = new Option<bool>("--no-sni") { Description = "Send no SNI." };
        var ehlo = new Option<string>("--ehlo") { Description = "Name to send in EHLO.", DefaultValueFactory = _ => DefaultEhloName() };
        var timeout = new Option<double>("--timeout") { Description = "Seconds allowed for each step (connect, banner, EHLO, STARTTLS, handshake) and DNS query.", DefaultValueFactory = _ => 15 };
        var ca = new Option<FileInfo[]>("--ca") { Description = "PEM file of extra trusted roots (repeatable).", AllowMultipleArgumentsPerToken = false };
        var noSystemTrust = new Option<bool>("--no-system-trust") { Description = "Trust only the --ca roots." };
        var clientCert = new Option<FileInfo?>("--client-cert") { Description = "Client certificate (PEM; intermediates may follow it) presented when asked." };
        var clientKey = new Option<FileInfo?>("--client-key") { Description = "Private key of --client-cert (PEM)." };
        var expect = new Option<string[]>("--expect") { Description = "A name DomainValidation must accept (repeatable; '*.x' means x and its subdomains).", AllowMultipleArgumentsPerToken = false };
        var dns = new Option<string?>("--dns") { Description = "DNS server HOST:PORT for MX, A and AAAA (default: the system's)." };
        var port = new Option<int?>("--port") { Description = "TCP port (default 25, or 465 with --implicit-tls)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON (docs/probe.md, schemaVersion 1)." };
        var pem = new Option<FileInfo?>("--pem") { Description = "Write the certificates as presented to this file (PEM)." };
        var versions = new Option<bool>("--versions") { Description = "Try TLS 1.0, 1.1, 1.2 and 1.3 one at a time." };
        var ciphers = new Option<bool>("--ciphers") { Description = "Try cipher suites one at a time (one connection each; at most 27)." };

        var command = new Command("probe", "Show what an SMTP server presents (capabilities, TLS, certificates) and what each TLS level would decide.")
        {
            target, implicitTls, serverName, noSni, ehlo, timeout, ca, noSystemTrust, clientCert, clientKey, expect, dns, port, json, pem, versions, ciphers,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var settings = new Settings(
                parse.GetValue(target)!,
                parse.GetValue(implicitTls),
                parse.GetValue(serverName),
                parse.GetValue(noSni),
                parse.GetValue(ehlo)!,
                parse.GetValue(timeout),
                parse.GetValue(ca) ?? [],
                parse.GetValue(noSystemTrust),
                parse.GetValue(clientCert),
                parse.GetValue(clientKey),
                parse.GetValue(expect) ?? [],
                parse.GetValue(dns),
                parse.GetValue(port),
                parse.GetValue(json),
                parse.GetValue(pem),
                parse.GetValue(versions),
                parse.GetValue(ciphers));
            return await RunAsync(settings, Console.Out, Console.Error, ProbeReportWriter.ColourWanted(), cancellation);
        });
        return command;
    }

    /// <summary>Everything the command line gave.</summary>
    internal sealed record Settings(
        string Target,
        bool ImplicitTls,
        string? ServerName,
        bool NoSni,
        string Ehlo,
        double TimeoutSeconds,
        FileInfo[] Ca,
        bool NoSystemTrust,
        FileInfo? ClientCert,
        FileInfo? ClientKey,
        string[] Expect,
        string? Dns,
        int? Port,
        bool Json,
        FileInfo? Pem,
        bool Versions,
        bool Ciphers);

    internal static async Task<int> RunAsync(Settings settings, TextWriter output, TextWriter error, bool colour, CancellationToken cancellation)
    {
        var options = BuildOptions(settings, error);
        if (options is null)
        {
            return UsageError;
        }

        ProbeReport report;
        try
        {
            report = await new SmtpProbe(options).RunAsync(cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            error.WriteLine("postern probe: interrupted");
            return 130;
        }

        if (settings.Json)
        {
            output.WriteLine(JsonSerializer.Serialize(report, ProbeJsonContext.Default.ProbeReport));
        }
        else
        {
            new ProbeReportWriter(output, colour).Write(report);
        }

        if (settings.Pem is { } pemFile)
        {
            try
            {
                await File.WriteAllTextAsync(pemFile.FullName, PresentedPem(report), cancellation);
                if (!settings.Json)
                {
                    output.WriteLine($"presented chain written to {pemFile.FullName}");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"postern probe: cannot write {pemFile.FullName}: {e.Message}");
                return UsageError;
            }
        }

        return report.ExitCode;
    }

    private static ProbeOptions? BuildOptions(Settings settings, TextWriter error)
    {
        var target = ProbeTarget.Parse(settings.Target, settings.Port, settings.ImplicitTls, out var targetError);
        if (target is null)
        {
            return Fail($"invalid target: {targetError}");
        }

        if (settings.TimeoutSeconds is <= 0 or > 3600 || double.IsNaN(settings.TimeoutSeconds))
        {
            return Fail("--timeout must be between 0 and 3600 seconds");
        }

        if (settings.NoSni && settings.ServerName is not null)
        {
            return Fail("--no-sni and --servername exclude each other");
        }

        if (settings.Port is { } p && p is < 1 or > 65535)
        {
            return Fail("--port must be from 1 to 65535");
        }

        if (string.IsNullOrWhiteSpace(settings.Ehlo) || settings.Ehlo.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            return Fail("--ehlo must be one word");
        }

        if (settings.NoSystemTrust && settings.Ca.Length == 0)
        {
            return Fail("--no-system-trust needs at least one --ca file");
        }

        foreach (var name in settings.Expect)
        {
            if (CertificateNames.Normalize(name.StartsWith("*.", StringComparison.Ordinal) ? name[2..] : name) is null)
            {
                return Fail($"--expect '{name}' is not a DNS name or a '*.domain' pattern");
            }
        }

        IPEndPoint? dns = null;
        if (settings.Dns is not null && !TryEndpoint(settings.Dns, out dns))
        {
            return Fail($"--dns '{settings.Dns}' is not HOST:PORT with an IP address (e.g. 127.0.0.1:53 or [::1]:53)");
        }

        TrustPolicy trust;
        try
        {
            foreach (var file in settings.Ca)
            {
                var count = new X509Certificate2Collection();
                count.ImportFromPemFile(file.FullName);
                if (count.Count == 0)
                {
                    return Fail($"--ca {file.FullName}: no certificate in the file");
                }
            }

            trust = TrustPolicy.Load(!settings.NoSystemTrust, settings.Ca.Select(f => f.FullName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            return Fail($"--ca: {e.Message}");
        }

        SslStreamCertificateContext? client = null;
        if (settings.ClientCert is not null || settings.ClientKey is not null)
        {
            if (settings.ClientCert is null || settings.ClientKey is null)
            {
                return Fail("--client-cert and --client-key go together");
            }

            try
            {
                client = LoadClientCertificate(settings.ClientCert.FullName, settings.ClientKey.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                return Fail($"--client-cert/--client-key: {e.Message}");
            }
        }

        return new ProbeOptions
        {
            Target = target,
            ImplicitTls = settings.ImplicitTls,
            ServerName = settings.ServerName,
            NoServerName = settings.NoSni,
            ClientName = settings.Ehlo,
            Timeout = TimeSpan.FromSeconds(settings.TimeoutSeconds),
            Trust = trust,
            ClientCertificate = client,
            ExpectedNames = settings.Expect,
            DnsServer = dns,
            ScanVersions = settings.Versions,
            ScanCipherSuites = settings.Ciphers,
        };

        ProbeOptions? Fail(string message)
        {
            error.WriteLine($"postern probe: {message}");
            return null;
        }
    }

    private static SslStreamCertificateContext LoadClientCertificate(string certificateFile, string keyFile)
    {
        using var ephemeral = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        // Linux SslStream needs a key that is not ephemeral; a PKCS#12 round trip gives one.
        var withKey = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certificateFile);
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (certificate.Thumbprint != withKey.Thumbprint)
            {
                intermediates.Add(certificate);
            }
        }

        return SmtpTlsClientOptions.ClientCertificateContext(withKey, intermediates);
    }

    private static bool TryEndpoint(string text, out IPEndPoint? endpoint)
    {
        endpoint = null;
        if (IPEndPoint.TryParse(text, out var parsed) && parsed.Port != 0)
        {
            endpoint = parsed;
            return true;
        }

        if (IPAddress.TryParse(text, out var address))
        {
            endpoint = new IPEndPoint(address, 53);
            return true;
        }

        return false;
    }

    private static string DefaultEhloName()
    {
        try
        {
            var name = Dns.GetHostName();
            return name.Contains('.', StringComparison.Ordinal) ? name : "postern-probe.invalid";
        }
        catch (System.Net.Sockets.SocketException)
        {
            return "postern-probe.invalid";
        }
    }

    /// <summary>Every host's presented chain, each certificate after a comment line naming it.</summary>
    internal static string PresentedPem(ProbeReport report)
    {
        var builder = new StringBuilder();
        foreach (var host in report.Hosts)
        {
            foreach (var certificate in host.PresentedChain)
            {
                builder.Append(CultureInfo.InvariantCulture, $"# {host.Host}:{host.Port} [{certificate.Position}] {certificate.Subject}\n");
                builder.Append(certificate.Pem.ReplaceLineEndings("\n"));
                if (!certificate.Pem.EndsWith('\n'))
                {
                    builder.Append('\n');
                }
            }
        }

        return builder.ToString();
    }
}
