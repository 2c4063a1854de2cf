using System.Net.Security;

namespace Postern.Probing;

/// <summary>The TLS 1.2 and 1.3 suites a scan tries, and their OpenSSL names (as Postfix and openssl print them).</summary>
public static class CipherSuiteNames
{
    private static readonly (TlsCipherSuite Suite, string OpenSsl, string Key)[] Tls12Suites =
    [
        (TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384", "EC"),
        (TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", "EC"),
        (TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", "EC"),
        (TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, "ECDHE-ECDSA-AES256-SHA384", "EC"),
        (TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ECDHE-ECDSA-AES128-SHA256", "EC"),
        (TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE-ECDSA-AES256-SHA", "EC"),
        (TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE-ECDSA-AES128-SHA", "EC"),
        (TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384", "RSA"),
        (TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256", "RSA"),
        (TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305", "RSA"),
        (TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, "ECDHE-RSA-AES256-SHA384", "RSA"),
        (TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE-RSA-AES128-SHA256", "RSA"),
        (TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE-RSA-AES256-SHA", "RSA"),
        (TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA", "RSA"),
        (TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384, "DHE-RSA-AES256-GCM-SHA384", "RSA"),
        (TlsCipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256, "DHE-RSA-AES128-GCM-SHA256", "RSA"),
        (TlsCipherSuite.TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "DHE-RSA-CHACHA20-POLY1305", "RSA"),
        (TlsCipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384", "RSA"),
        (TlsCipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256", "RSA"),
        (TlsCipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA256, "AES256-SHA256", "RSA"),
        (TlsCipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA256, "AES128-SHA256", "RSA"),
        (TlsCipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA, "AES256-SHA", "RSA"),
        (TlsCipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA, "AES128-SHA", "RSA"),
    ];

    private static readonly TlsCipherSuite[] Tls13Suites =
    [
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_AES_128_CCM_SHA256,
    ];

    /// <summary>TLS 1.3 suites to try.</summary>
    public static IReadOnlyList<TlsCipherSuite> Tls13 => Tls13Suites;

    /// <summary>TLS 1.2 suites to try for a server whose key is <paramref name="keyType"/> ("RSA", "EC"; others get all).</summary>
    public static IReadOnlyList<TlsCipherSuite> Tls12For(string? keyType) =>
        Tls12Suites.Where(s => keyType is not ("RSA" or "EC") || s.Key == keyType).Select(s => s.Suite).ToArray();

    /// <summary>The OpenSSL name of a suite; TLS 1.3 suites keep their IANA name there too.</summary>
    public static string? OpenSslName(string ianaName)
    {
        foreach (var (suite, openSsl, _) in Tls12Suites)
        {
            if (suite.ToString() == ianaName)
            {
                return openSsl;
            }
        }

        return Tls13Suites.Any(s => s.ToString() == ianaName) ? ianaName : null;
    }
}
