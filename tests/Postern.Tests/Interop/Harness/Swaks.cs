using System.Globalization;

namespace Postern.Tests.Interop;

/// <summary>How swaks secures the session.</summary>
public enum SwaksTls
{
    /// <summary>Plain SMTP.</summary>
    None,

    /// <summary>STARTTLS, failing when the server does not offer it (<c>--tls</c>).</summary>
    StartTls,

    /// <summary>STARTTLS when offered (<c>--tls-optional</c>).</summary>
    StartTlsOptional,

    /// <summary>TLS from the first byte (<c>--tls-on-connect</c>).</summary>
    Implicit,
}

/// <summary>One swaks run: a message from <paramref name="From"/> to <paramref name="To"/> via <paramref name="Server"/>.</summary>
public sealed record SwaksOptions(string Server, int Port, string From, IReadOnlyList<string> To)
{
    /// <summary>Name given in EHLO (<c>--ehlo</c>).</summary>
    public string? Helo { get; init; }

    /// <summary>TLS mode.</summary>
    public SwaksTls Tls { get; init; } = SwaksTls.None;

    /// <summary>Client certificate (<c>--tls-cert</c>).</summary>
    public string? TlsCert { get; init; }

    /// <summary>Client key (<c>--tls-key</c>).</summary>
    public string? TlsKey { get; init; }

    /// <summary>SNI name (<c>--tls-sni</c>).</summary>
    public string? TlsSni { get; init; }

    /// <summary>Verify the server against this CA file (<c>--tls-verify --tls-ca-path</c>).</summary>
    public string? TlsVerifyCAfile { get; init; }

    /// <summary>Extra header lines (<c>--add-header</c>), e.g. <c>Subject: hello</c>.</summary>
    public IReadOnlyList<string> Headers { get; init; } = [];

    /// <summary>Body text (<c>--body</c>).</summary>
    public string? Body { get; init; }

    /// <summary>The whole DATA content instead of swaks' own message (<c>--data</c>); CRLF or LF lines.</summary>
    public string? Data { get; init; }

    /// <summary>Send commands in PIPELINING groups (<c>--pipeline</c>).</summary>
    public bool Pipeline { get; init; }

    /// <summary>Per-read timeout of swaks (<c>--timeout</c>).</summary>
    public TimeSpan ProtocolTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Further swaks arguments, appended as given.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}

/// <summary>What a swaks run printed and how it ended.</summary>
/// <param name="ExitCode">0 on success; swaks uses 2 connect, 21-25 rejected stages, 28 TLS, 29 auth.</param>
/// <param name="Transcript">The whole conversation (<c>&lt;-</c> server, <c>-&gt;</c> client lines).</param>
/// <param name="Process">The underlying run.</param>
public sealed record SwaksResult(int ExitCode, string Transcript, ProcessResult Process)
{
    /// <summary>Whether the message was accepted.</summary>
    public bool Succeeded => ExitCode == 0 && !Process.TimedOut;

    /// <summary>Server reply lines (without the <c>&lt;-</c> marker).</summary>
    public IReadOnlyList<string> ServerLines =>
        Transcript.Split('\n')
            .Select(l => l.TrimEnd('\r').TrimStart())
            .Where(l => l.StartsWith("<-", StringComparison.Ordinal) || l.StartsWith("<~", StringComparison.Ordinal))
            .Select(l => l[2..].TrimStart())
            .ToList();
}

/// <summary>Runs the swaks SMTP test client.</summary>
public static class Swaks
{
    /// <summary>The swaks command line for <paramref name="options"/>.</summary>
    public static IReadOnlyList<string> BuildArguments(SwaksOptions options)
    {
        var args = new List<string>
        {
            "--server", options.Server,
            "--port", options.Port.ToString(CultureInfo.InvariantCulture),
            "--from", options.From,
            "--to", string.Join(',', options.To),
            "--timeout", ((int)Math.Ceiling(options.ProtocolTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture),
        };
        if (options.Helo is not null)
        {
            args.AddRange(["--ehlo", options.Helo]);
        }

        switch (options.Tls)
        {
            case SwaksTls.StartTls:
                args.Add("--tls");
                break;
            case SwaksTls.StartTlsOptional:
                args.Add("--tls-optional");
                break;
            case SwaksTls.Implicit:
                args.Add("--tls-on-connect");
                break;
        }

        if (options.TlsCert is not null)
        {
            args.AddRange(["--tls-cert", options.TlsCert]);
        }

        if (options.TlsKey is not null)
        {
            args.AddRange(["--tls-key", options.TlsKey]);
        }

        if (options.TlsSni is not null)
        {
            args.AddRange(["--tls-sni", options.TlsSni]);
        }

        if (options.TlsVerifyCAfile is not null)
        {
            args.AddRange(["--tls-verify", "--tls-ca-path", options.TlsVerifyCAfile]);
        }

        foreach (var header in options.Headers)
        {
            args.AddRange(["--add-header", header]);
        }

        if (options.Body is not null)
        {
            args.AddRange(["--body", options.Body]);
        }

        if (options.Data is not null)
        {
            // "-" makes swaks read the DATA content from stdin.
            args.AddRange(["--data", "-"]);
        }

        if (options.Pipeline)
        {
            args.Add("--pipeline");
        }

        args.AddRange(options.ExtraArguments);
        return args;
    }

    /// <summary>Sends one message and returns the transcript; never throws for a rejection.</summary>
    public static async Task<SwaksResult> SendAsync(SwaksOptions options, TimeSpan? timeout = null)
    {
        var swaks = InteropTools.Require("swaks");
        var result = await ExternalProcess.RunAsync(
            swaks, BuildArguments(options), options.Data, timeout ?? TimeSpan.FromSeconds(90));
        return new SwaksResult(result.ExitCode, result.CombinedOutput, result);
    }

    /// <summary>Sends a short plain message to one recipient.</summary>
    public static Task<SwaksResult> SendAsync(string server, int port, string from, string to, SwaksTls tls = SwaksTls.None) =>
        SendAsync(new SwaksOptions(server, port, from, [to]) { Tls = tls });
}
