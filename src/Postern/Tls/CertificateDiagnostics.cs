using Microsoft.Extensions.Logging;

namespace Postern.Tls;

/// <summary>Checks made at start (and after a reload) that a person should hear about.</summary>
public static class CertificateDiagnostics
{
    /// <summary>How long before expiry a certificate is reported.</summary>
    public static readonly TimeSpan ExpiryWarningPeriod = TimeSpan.FromDays(30);

    /// <summary>
    /// Warnings about the store: the banner/EHLO <paramref name="hostName"/> is not a name of the
    /// default certificate; a certificate expires within 30 days of <paramref name="now"/>. Each is
    /// also logged when a logger is given.
    /// </summary>
    public static IReadOnlyList<string> Check(ServerCertificateStore store, string hostName, DateTimeOffset now, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var warnings = new List<string>();
        var defaultCertificate = store.Default;
        if (!defaultCertificate.DnsNames.Any(name => CertificateNames.MatchesHost(name, hostName)))
        {
            warnings.Add($"the host name {hostName} is not a name of the default certificate " +
                $"({defaultCertificate.Source.CertificateFile}, names: {string.Join(", ", defaultCertificate.DnsNames)}); " +
                "clients that verify the name will refuse it");
        }

        foreach (var certificate in store.All)
        {
            var notAfter = new DateTimeOffset(certificate.Leaf.NotAfter.ToUniversalTime(), TimeSpan.Zero);
            if (notAfter - now < ExpiryWarningPeriod)
            {
                warnings.Add($"the certificate of {certificate.Source.Owner} '{certificate.Leaf.Subject}' " +
                    $"({certificate.Source.CertificateFile}, {certificate.Source.JsonPath}) expires on {notAfter:u}");
            }
        }

        if (logger is not null)
        {
            foreach (var warning in warnings)
            {
                logger.CertificateWarning(warning);
            }
        }

        return warnings;
    }
}
