namespace Postern.Tls;

/// <summary>
/// Why a peer certificate was refused, in a few fixed categories (the <c>reason</c> label of
/// <c>postern_tls_verification_failures_total</c>). The words for a person stay in the verdict's text.
/// </summary>
public enum CertificateFailure
{
    /// <summary>Nothing was refused.</summary>
    None,
    /// <summary>No name of the certificate matches the expected host or tlsDomain.</summary>
    NameMismatch,
    /// <summary>A certificate of the chain is past its notAfter.</summary>
    Expired,
    /// <summary>A certificate of the chain is before its notBefore.</summary>
    NotYetValid,
    /// <summary>The chain ends at a root the trust policy does not hold.</summary>
    UntrustedRoot,
    /// <summary>The chain cannot be completed and the peer sent only its own certificate.</summary>
    MissingIntermediate,
    /// <summary>The certificate is not one of the connector's pinned fingerprints.</summary>
    PinMismatch,
    /// <summary>Anything else (wrong key usage, bad signature, no certificate at all).</summary>
    Other,
}
