using System.Globalization;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>What <c>posttls-finger</c> reported.</summary>
/// <param name="Trust">Verified, Trusted, Untrusted or Anonymous; null when no TLS session was made.</param>
/// <param name="Protocol">Negotiated protocol, e.g. TLSv1.3.</param>
/// <param name="Cipher">Negotiated cipher.</param>
/// <param name="Process">The underlying run.</param>
public sealed record PostTlsFingerResult(string? Trust, string? Protocol, string? Cipher, ProcessResult Process)
{
    /// <summary>Everything posttls-finger printed.</summary>
    public string Output => Process.CombinedOutput;

    /// <summary>Whether the peer's certificate matched under the requested level.</summary>
    public bool Verified => Trust == "Verified";
}

/// <summary>Runs Postfix's <c>posttls-finger</c> against an SMTP server.</summary>
public static class PostTlsFinger
{
    /// <summary>
    /// Connects to <c>[host]:port</c> at TLS <paramref name="level"/> (may, encrypt, verify, secure,
    /// dane, ...) trusting <paramref name="caFile"/>, matching <paramref name="matches"/> (e.g. a
    /// host name), printing the chain (<c>-C</c>) and skipping the SMTP chat after TLS (<c>-c</c>).
    /// </summary>
    public static async Task<PostTlsFingerResult> RunAsync(
        string host,
        int port,
        string level = "secure",
        string? caFile = null,
        IReadOnlyList<string>? matches = null,
        IReadOnlyList<string>? extraArguments = null)
    {
        var args = new List<string> { "-c", "-C", "-l", level };
        if (caFile is not null)
        {
            args.AddRange(["-F", caFile]);
        }

        if (extraArguments is not null)
        {
            args.AddRange(extraArguments);
        }

        args.Add($"[{host}]:{port.ToString(CultureInfo.InvariantCulture)}");
        if (matches is not null)
        {
            args.AddRange(matches);
        }

        var result = await ExternalProcess.RunAsync(InteropTools.Require("posttls-finger"), args, standardInput: null, timeout: TimeSpan.FromSeconds(60));
        var line = Regex.Match(
            result.CombinedOutput,
            @"(Verified|Trusted|Untrusted|Anonymous) TLS connection established to [^:]+(?::\d+)?: (\S+) with cipher (\S+)");
        return line.Success
            ? new PostTlsFingerResult(line.Groups[1].Value, line.Groups[2].Value, line.Groups[3].Value, result)
            : new PostTlsFingerResult(null, null, null, result);
    }
}
