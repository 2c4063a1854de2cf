using System.Security.Cryptography.X509Certificates;

namespace Postern.Tls;

/// <summary>
/// Which roots a peer certificate may chain to: the system store unless disabled, plus extra
/// roots from configuration. Certificates are never downloaded from peers (no AIA fetching) and
/// revocation is not checked unless asked for.
/// </summary>
public sealed class TrustPolicy
{
    private readonly X509Certificate2Collection _additionalRoots;

    public TrustPolicy(bool useSystemStore, X509Certificate2Collection additionalRoots)
    {
        UseSystemStore = useSystemStore;
        _additionalRoots = additionalRoots;
    }

    public bool UseSystemStore { get; }

    public IReadOnlyList<X509Certificate2> AdditionalRoots => [.. _additionalRoots];

    /// <summary>Loads every certificate of each PEM bundle file.</summary>
    public static TrustPolicy Load(bool useSystemStore, IEnumerable<string> bundleFiles)
    {
        var roots = new X509Certificate2Collection();
        foreach (string file in bundleFiles) roots.ImportFromPemFile(file);
        return new TrustPolicy(useSystemStore, roots);
    }

    /// <summary>
    /// Builds the chain of <paramref name="leaf"/> with the intermediates the peer sent, under this
    /// policy, for the given purpose (serverAuth or clientAuth EKU).
    /// </summary>
    public ChainVerdict Verify(X509Certificate2 leaf, X509Certificate2Collection? presentedIntermediates, bool serverAuth, DateTime? at = null)
    {
        using var chain = new X509Chain();
        ChainPolicy(chain.ChainPolicy, presentedIntermediates, serverAuth, at);
        bool ok = chain.Build(leaf);
        if (!ok && UseSystemStore && _additionalRoots.Count > 0)
        {
            // The system store and the extra roots are two trust anchors sets: a chain to either is trusted.
            using var custom = new X509Chain();
            ChainPolicy(custom.ChainPolicy, presentedIntermediates, serverAuth, at);
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(_additionalRoots);
            if (custom.Build(leaf)) return ChainVerdict.Trusted(custom);
        }
        return ok ? ChainVerdict.Trusted(chain) : ChainVerdict.Untrusted(chain);
    }

    private void ChainPolicy(X509ChainPolicy policy, X509Certificate2Collection? intermediates, bool serverAuth, DateTime? at)
    {
        policy.DisableCertificateDownloads = true;
        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.VerificationTime = at ?? DateTime.Now;
        policy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2"));
        if (intermediates is not null) policy.ExtraStore.AddRange(intermediates);
        if (!UseSystemStore)
        {
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(_additionalRoots);
        }
    }
}

/// <summary>The outcome of building a chain: trusted or not, and why not in words a person can act on.</summary>
public sealed record ChainVerdict(bool IsTrusted, string? Problem, IReadOnlyList<string> ChainSubjects)
{
    /// <summary>The category of <see cref="Problem"/>; <see cref="CertificateFailure.None"/> when trusted.</summary>
    public CertificateFailure Failure { get; init; }

    internal static ChainVerdict Trusted(X509Chain chain) =>
        new(true, null, chain.ChainElements.Select(e => e.Certificate.Subject).ToArray());

    internal static ChainVerdict Untrusted(X509Chain chain)
    {
        var subjects = chain.ChainElements.Select(e => e.Certificate.Subject).ToArray();
        X509Certificate2 top = chain.ChainElements[^1].Certificate;
        var problems = new List<string>();
        X509ChainStatusFlags flags = X509ChainStatusFlags.NoError;
        foreach (X509ChainStatus status in chain.ChainStatus)
        {
            flags |= status.Status;
            string text = status.Status switch
            {
                X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain =>
                    $"chain does not reach a trusted root (issuer \"{top.GetNameInfo(X509NameType.SimpleName, forIssuer: true)}\")",
                X509ChainStatusFlags.NotTimeValid => ExpiryText(chain),
                X509ChainStatusFlags.NotValidForUsage => "certificate is not valid for this purpose (extended key usage)",
                X509ChainStatusFlags.NotSignatureValid => "a signature in the chain is not valid",
                _ => status.StatusInformation.Trim(),
            };
            if (text.Length > 0 && !problems.Contains(text)) problems.Add(text);
        }
        return new(false, problems.Count > 0 ? string.Join("; ", problems) : "chain could not be built", subjects) { Failure = Categorize(chain, flags) };
    }

    /// <summary>One category for the flags: a chain that reaches no trusted root says more than its dates.</summary>
    private static CertificateFailure Categorize(X509Chain chain, X509ChainStatusFlags flags)
    {
        if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0) return CertificateFailure.UntrustedRoot;
        if ((flags & X509ChainStatusFlags.NotTimeValid) != 0)
        {
            DateTime at = chain.ChainPolicy.VerificationTime.ToUniversalTime();
            return chain.ChainElements.Any(e => e.Certificate.NotBefore.ToUniversalTime() > at) ? CertificateFailure.NotYetValid : CertificateFailure.Expired;
        }
        return CertificateFailure.Other;
    }

    private static string ExpiryText(X509Chain chain)
    {
        foreach (X509ChainElement element in chain.ChainElements)
        {
            var c = element.Certificate;
            if (c.NotAfter.ToUniversalTime() < DateTime.UtcNow)
                return $"certificate expired {c.NotAfter.ToUniversalTime():yyyy-MM-dd} (\"{c.GetNameInfo(X509NameType.SimpleName, false)}\")";
            if (c.NotBefore.ToUniversalTime() > DateTime.UtcNow)
                return $"certificate not valid before {c.NotBefore.ToUniversalTime():yyyy-MM-dd} (\"{c.GetNameInfo(X509NameType.SimpleName, false)}\")";
        }
        return "certificate is outside its validity period";
    }
}
