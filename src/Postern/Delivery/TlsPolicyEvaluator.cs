using System.Security.Cryptography.X509Certificates;
using Postern.Configuration;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>Which expected name a certificate matched, and through which of its names.</summary>
/// <param name="ExpectedName">The name or contract pattern (<c>*.x</c>: x and its subdomains) that was checked.</param>
/// <param name="MatchedBy">The certificate's name (SAN dNSName, or CN without SANs) that matched, or null.</param>
public sealed record NameMatch(string ExpectedName, string? MatchedBy)
{
    /// <summary>Whether the certificate carries a matching name.</summary>
    public bool Matched => MatchedBy is not null;
}

/// <summary>Whether a TLS level accepts a connection and, if not, why in words a person can act on.</summary>
/// <param name="Level">The level evaluated.</param>
/// <param name="Passed">Whether the level would let a message go.</param>
/// <param name="Reason">Why it fails (or, when it passes without TLS, why there is none); null otherwise.</param>
/// <param name="Names">For <see cref="TlsLevel.DomainValidation"/>: the names checked and how each matched.</param>
public sealed record TlsPolicyVerdict(TlsLevel Level, bool Passed, string? Reason, IReadOnlyList<NameMatch> Names)
{
    /// <summary>The enhanced status code delivery defers with when the level fails: 4.7.4 without TLS, 4.7.5 for a refused certificate.</summary>
    public string? DeferralStatus { get; init; }

    /// <summary>When the level refused a certificate: the category of <see cref="Reason"/>; otherwise <see cref="CertificateFailure.None"/>.</summary>
    public CertificateFailure Failure { get; init; }
}

/// <summary>
/// The one place each outbound TLS level maps to one validation routine, used by delivery (per
/// attempt) and by the probe (for every level). Chains are built under the <see cref="TrustPolicy"/>
/// with the intermediates the server sent and nothing downloaded.
/// </summary>
public sealed class TlsPolicyEvaluator
{
    private readonly TrustPolicy _trust;

    /// <summary>Creates an evaluator for a trust policy.</summary>
    public TlsPolicyEvaluator(TrustPolicy trust)
    {
        ArgumentNullException.ThrowIfNull(trust);
        _trust = trust;
    }

    /// <summary>
    /// Evaluates one level. <paramref name="tls"/> is null when no TLS session exists, with
    /// <paramref name="noTlsReason"/> saying why ("STARTTLS not offered", "TLS handshake failed: ...").
    /// <paramref name="expectedNames"/> are the names <see cref="TlsLevel.DomainValidation"/> accepts
    /// (the <c>tlsDomain</c>, or the smart host or MX host name); any one matching passes.
    /// </summary>
    public TlsPolicyVerdict Evaluate(TlsLevel level, TlsHandshakeResult? tls, string? noTlsReason, IReadOnlyList<string> expectedNames, DateTime? at = null)
    {
        ArgumentNullException.ThrowIfNull(expectedNames);
        return level switch
        {
            TlsLevel.None => new TlsPolicyVerdict(level, true, null, []),
            TlsLevel.Opportunistic => new TlsPolicyVerdict(level, true, tls is null ? $"{noTlsReason ?? "no TLS"}: plain text allowed" : null, []),
            TlsLevel.EncryptionOnly => RequireEncryption(level, tls, noTlsReason),
            TlsLevel.CertificateValidation => RequireTrustedChain(level, tls, noTlsReason, at),
            TlsLevel.DomainValidation => RequireName(tls, noTlsReason, expectedNames, at),
            _ => throw new ArgumentOutOfRangeException(nameof(level), level, "Unknown TLS level."),
        };
    }

    /// <summary>Builds the presented chain under the trust policy for serverAuth.</summary>
    public ChainVerdict VerifyChain(TlsHandshakeResult tls, DateTime? at = null)
    {
        ArgumentNullException.ThrowIfNull(tls);
        if (tls.Leaf is null)
        {
            return new ChainVerdict(false, "the server presented no certificate", []) { Failure = CertificateFailure.Other };
        }

        var verdict = _trust.Verify(tls.Leaf, tls.Intermediates, serverAuth: true, at);
        if (!verdict.IsTrusted && tls.Presented.Count == 1 && !IsSelfIssued(tls.Leaf) && verdict.Problem is { } problem
            && problem.Contains("trusted root", StringComparison.Ordinal))
        {
            return verdict with { Problem = problem + "; the server sent no intermediate certificate", Failure = CertificateFailure.MissingIntermediate };
        }

        return verdict;
    }

    /// <summary>How the certificate's names match <paramref name="expected"/> (a host name or a <c>*.x</c> pattern).</summary>
    public static NameMatch MatchName(IReadOnlyList<string> certificateNames, string expected)
    {
        ArgumentNullException.ThrowIfNull(certificateNames);
        foreach (var presented in certificateNames)
        {
            if (Matches(presented, expected))
            {
                return new NameMatch(expected, presented);
            }
        }

        return new NameMatch(expected, null);
    }

    /// <summary>
    /// A certificate name matches a host name per RFC 6125 (<see cref="CertificateNames.MatchesHost"/>);
    /// against a contract pattern <c>*.x</c>, any name for x or below it matches, a wildcard
    /// certificate name <c>*.y</c> when y is x or below it.
    /// </summary>
    public static bool Matches(string presentedName, string expected)
    {
        if (!expected.TrimStart().StartsWith("*.", StringComparison.Ordinal))
        {
            return CertificateNames.MatchesHost(presentedName, expected);
        }

        if (CertificateNames.Normalize(presentedName) is not { } presented)
        {
            return false;
        }

        if (presented.StartsWith("*.", StringComparison.Ordinal))
        {
            var parent = presented[2..];
            return !parent.Contains('*') && parent.Contains('.') && CertificateNames.MatchesPattern(expected, parent);
        }

        return !presented.Contains('*') && CertificateNames.MatchesPattern(expected, presented);
    }

    private static TlsPolicyVerdict RequireEncryption(TlsLevel level, TlsHandshakeResult? tls, string? noTlsReason) =>
        tls is null
            ? new TlsPolicyVerdict(level, false, noTlsReason ?? "no TLS", []) { DeferralStatus = "4.7.4" }
            : new TlsPolicyVerdict(level, true, null, []);

    private TlsPolicyVerdict RequireTrustedChain(TlsLevel level, TlsHandshakeResult? tls, string? noTlsReason, DateTime? at)
    {
        if (tls is null)
        {
            return RequireEncryption(level, tls, noTlsReason);
        }

        var chain = VerifyChain(tls, at);
        return chain.IsTrusted
            ? new TlsPolicyVerdict(level, true, null, [])
            : new TlsPolicyVerdict(level, false, chain.Problem, []) { DeferralStatus = "4.7.5", Failure = chain.Failure };
    }

    private TlsPolicyVerdict RequireName(TlsHandshakeResult? tls, string? noTlsReason, IReadOnlyList<string> expectedNames, DateTime? at)
    {
        const TlsLevel level = TlsLevel.DomainValidation;
        var trusted = RequireTrustedChain(level, tls, noTlsReason, at);
        if (tls?.Leaf is not { } leaf)
        {
            return trusted;
        }

        var certificateNames = CertificateNames.GetDnsNames(leaf);
        var matches = expectedNames.Select(name => MatchName(certificateNames, name)).ToArray();
        if (!trusted.Passed)
        {
            return trusted with { Names = matches };
        }

        if (expectedNames.Count == 0)
        {
            return new TlsPolicyVerdict(level, false, "no name to check the certificate against", matches) { DeferralStatus = "4.7.5", Failure = CertificateFailure.Other };
        }

        return matches.Any(m => m.Matched)
            ? new TlsPolicyVerdict(level, true, null, matches)
            : new TlsPolicyVerdict(level, false, NameMismatch(certificateNames, expectedNames), matches) { DeferralStatus = "4.7.5", Failure = CertificateFailure.NameMismatch };
    }

    /// <summary>"certificate names [a, *.b] do not match c" (or "... match none of c, d").</summary>
    public static string NameMismatch(IReadOnlyList<string> certificateNames, IReadOnlyList<string> expectedNames)
    {
        if (certificateNames.Count == 0)
        {
            return $"certificate has no DNS name to match {string.Join(" or ", expectedNames)}";
        }

        var names = $"certificate names [{string.Join(", ", certificateNames)}]";
        return expectedNames.Count == 1
            ? $"{names} do not match {expectedNames[0]}"
            : $"{names} match none of {string.Join(", ", expectedNames)}";
    }

    private static bool IsSelfIssued(X509Certificate2 certificate) =>
        certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);
}
