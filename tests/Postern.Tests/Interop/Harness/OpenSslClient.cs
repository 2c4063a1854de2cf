using System.Globalization;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>One certificate of the chain a server presented.</summary>
/// <param name="Depth">0 for the leaf, then upward.</param>
/// <param name="Subject">Subject as openssl prints it, e.g. <c>O = Postern Test, CN = mx.example.test</c>.</param>
/// <param name="Issuer">Issuer as openssl prints it.</param>
/// <param name="Pem">The certificate's PEM block.</param>
public sealed record PresentedCertificate(int Depth, string Subject, string Issuer, string Pem)
{
    /// <summary>The CN of <see cref="Subject"/>, or null.</summary>
    public string? CommonName => Regex.Match(Subject, @"(?:^|,\s*)CN\s*=\s*([^,]+)") is { Success: true } m ? m.Groups[1].Value.Trim() : null;
}

/// <summary>What <c>openssl s_client</c> saw of a server's TLS.</summary>
public sealed record TlsProbeResult(
    IReadOnlyList<PresentedCertificate> PresentedChain,
    string? Protocol,
    string? Cipher,
    int? VerifyReturnCode,
    string? VerifyReturnText,
    ProcessResult Process)
{
    /// <summary>Whether a TLS session was established.</summary>
    public bool HandshakeSucceeded => Protocol is not null && Cipher is not null && Cipher != "(NONE)";

    /// <summary>The leaf the server presented, or null.</summary>
    public PresentedCertificate? Leaf => PresentedChain.FirstOrDefault();
}

/// <summary>Looks at a server's TLS with <c>openssl s_client</c>.</summary>
public static class OpenSslClient
{
    /// <summary>
    /// Connects (with STARTTLS over SMTP when <paramref name="starttls"/>), shows the certificate
    /// chain and the negotiated protocol and cipher. Pass <paramref name="caFile"/> to get a
    /// meaningful <see cref="TlsProbeResult.VerifyReturnCode"/>; a client certificate can be offered.
    /// </summary>
    public static async Task<TlsProbeResult> ShowCertsAsync(
        string host,
        int port,
        string? serverName = null,
        bool starttls = true,
        string? caFile = null,
        string? clientCertificate = null,
        string? clientKey = null,
        IReadOnlyList<string>? extraArguments = null)
    {
        var args = new List<string>
        {
            "s_client", "-connect", $"{host}:{port.ToString(CultureInfo.InvariantCulture)}", "-showcerts",
        };
        if (starttls)
        {
            args.AddRange(["-starttls", "smtp"]);
        }

        args.AddRange(serverName is null ? ["-noservername"] : ["-servername", serverName]);
        if (caFile is not null)
        {
            args.AddRange(["-CAfile", caFile]);
        }

        if (clientCertificate is not null)
        {
            args.AddRange(["-cert", clientCertificate, "-key", clientKey ?? clientCertificate]);
        }

        if (extraArguments is not null)
        {
            args.AddRange(extraArguments);
        }

        // stdin at EOF makes s_client close the session right after the handshake.
        var result = await ExternalProcess.RunAsync(InteropTools.Require("openssl"), args, standardInput: "", timeout: TimeSpan.FromSeconds(30));
        return Parse(result);
    }

    /// <summary>Parses s_client output (exposed for tests of the parser).</summary>
    public static TlsProbeResult Parse(ProcessResult result)
    {
        var text = result.StandardOutput.Replace("\r", "", StringComparison.Ordinal);
        var chain = new List<PresentedCertificate>();
        var entry = new Regex(
            @"^\s*(\d+) s:([^\n]*)\n\s+i:([^\n]*)\n(?:\s+[a-z]:[^\n]*\n)*(-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----)",
            RegexOptions.Multiline | RegexOptions.Singleline);
        var chainStart = text.IndexOf("Certificate chain", StringComparison.Ordinal);
        if (chainStart >= 0)
        {
            var chainEnd = text.IndexOf("\n---\n", chainStart, StringComparison.Ordinal);
            var section = chainEnd > chainStart ? text[chainStart..chainEnd] : text[chainStart..];
            foreach (Match m in entry.Matches(section))
            {
                chain.Add(new PresentedCertificate(
                    int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
                    m.Groups[2].Value.Trim(),
                    m.Groups[3].Value.Trim(),
                    m.Groups[4].Value + "\n"));
            }
        }

        var negotiated = Regex.Match(text, @"^New, (\S+), Cipher is (\S+)", RegexOptions.Multiline);
        var verify = Regex.Match(text, @"Verify return code: (\d+) \(([^)]*)\)");
        return new TlsProbeResult(
            chain,
            negotiated.Success ? negotiated.Groups[1].Value : null,
            negotiated.Success ? negotiated.Groups[2].Value : null,
            verify.Success ? int.Parse(verify.Groups[1].Value, CultureInfo.InvariantCulture) : null,
            verify.Success ? verify.Groups[2].Value : null,
            result);
    }
}
