using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Postern.Tls;

/// <summary>
/// DNS names of certificates and how they match host names (RFC 6125, CA/Browser Forum rules) and
/// configuration patterns (EOP's "*.x").
/// </summary>
public static class CertificateNames
{
    private const string CommonNameOid = "2.5.4.3";

    /// <summary>
    /// The certificate's SAN dNSNames, lower-case; the most specific subject CN only when there is
    /// no SAN dNSName (RFC 6125 §6.4.4).
    /// </summary>
    public static IReadOnlyList<string> GetDnsNames(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var names = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                foreach (var dns in san.EnumerateDnsNames())
                {
                    var name = dns.ToLowerInvariant();
                    if (!names.Contains(name))
                    {
                        names.Add(name);
                    }
                }
            }
        }

        if (names.Count == 0 && GetCommonName(certificate) is { } cn)
        {
            names.Add(cn.ToLowerInvariant());
        }

        return names;
    }

    /// <summary>The most specific subject CN, or null.</summary>
    public static string? GetCommonName(X509Certificate2 certificate)
    {
        // Display order: the most specific RDN comes first.
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (!rdn.HasMultipleElements && rdn.GetSingleElementType().Value == CommonNameOid)
            {
                var value = rdn.GetSingleElementValue();
                return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
            }
        }

        return null;
    }

    /// <summary>
    /// Whether a name presented in a certificate matches a host name (RFC 6125 §6.4): case-insensitive,
    /// a trailing dot ignored, U-labels compared as A-labels; a wildcard only as the whole leftmost
    /// label, standing for exactly one label (<c>*.example.com</c> matches <c>a.example.com</c>, not
    /// <c>example.com</c> nor <c>a.b.example.com</c>); partial wildcards (<c>f*.example.com</c>) never match.
    /// </summary>
    public static bool MatchesHost(string presentedName, string hostName)
    {
        if (Normalize(presentedName) is not { } presented || Normalize(hostName) is not { } host || host.Contains('*'))
        {
            return false;
        }

        if (!presented.StartsWith("*.", StringComparison.Ordinal))
        {
            return !presented.Contains('*') && string.Equals(presented, host, StringComparison.Ordinal);
        }

        var parent = presented[2..];
        // No wildcard over a single label such as "*.com", and none past the leftmost label.
        if (parent.Contains('*') || !parent.Contains('.'))
        {
            return false;
        }

        var firstDot = host.IndexOf('.');
        return firstDot > 0 && string.Equals(host[(firstDot + 1)..], parent, StringComparison.Ordinal);
    }

    /// <summary>
    /// Whether a name matches a configuration pattern (<c>tlsDomain</c>, <c>recipientDomains</c>,
    /// <c>tlsSenderCertificateName</c>): <c>*.x</c> means x itself and any subdomain of x, as in EOP;
    /// anything else is an exact, case-insensitive match (trailing dot ignored, IDNA as A-labels).
    /// </summary>
    public static bool MatchesPattern(string contractPattern, string name)
    {
        if (Normalize(contractPattern) is not { } pattern || Normalize(name) is not { } candidate)
        {
            return false;
        }

        if (!pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return string.Equals(pattern, candidate, StringComparison.Ordinal);
        }

        var parent = pattern[2..];
        return parent.Length > 0
            && (string.Equals(candidate, parent, StringComparison.Ordinal)
                || (candidate.Length > parent.Length + 1
                    && candidate.EndsWith(parent, StringComparison.Ordinal)
                    && candidate[candidate.Length - parent.Length - 1] == '.'));
    }

    /// <summary>
    /// The comparable form of a DNS name: lower-case A-labels, no trailing dot; null when empty or
    /// not convertible.
    /// </summary>
    public static string? Normalize(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return null;
        }

        var trimmed = name.Trim();
        if (trimmed.EndsWith('.'))
        {
            trimmed = trimmed[..^1];
        }

        if (trimmed.Length == 0 || trimmed.Contains(".."))
        {
            return null;
        }

        if (Ascii.IsValid(trimmed))
        {
            return trimmed.ToLowerInvariant();
        }

        // Convert label by label so that a "*" label survives; lower-case first since IdnMapping
        // does not case-fold non-ASCII letters under invariant globalization.
        var labels = trimmed.ToLowerInvariant().Split('.');
        var idn = new IdnMapping();
        try
        {
            for (var i = 0; i < labels.Length; i++)
            {
                if (!Ascii.IsValid(labels[i]))
                {
                    labels[i] = idn.GetAscii(labels[i]);
                }
            }
        }
        catch (ArgumentException)
        {
            return null;
        }

        return string.Join('.', labels).ToLowerInvariant();
    }
}
