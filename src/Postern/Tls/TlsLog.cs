using Microsoft.Extensions.Logging;

namespace Postern.Tls;

/// <summary>Log messages of the TLS area (event ids 2000-2099).</summary>
internal static partial class TlsLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Loaded certificate for {Owner} from {CertificateFile}: subject {Subject}, names {Names}, expires {NotAfter:u}, SHA-256 {Sha256}")]
    public static partial void CertificateLoaded(this ILogger logger, string owner, string certificateFile, string subject, string names, DateTime notAfter, string sha256);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Reloaded certificate for {Owner} from {CertificateFile}: subject {Subject}, names {Names}, expires {NotAfter:u}, SHA-256 {Sha256}")]
    public static partial void CertificateReloaded(this ILogger logger, string owner, string certificateFile, string subject, string names, DateTime notAfter, string sha256);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Reloading the certificate at {JsonPath} failed; the previous certificate stays in use")]
    public static partial void CertificateReloadFailed(this ILogger logger, string jsonPath, Exception exception);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "Certificate file {Path} changed; reloading it shortly")]
    public static partial void CertificateFileChanged(this ILogger logger, string path);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Watching {Count} certificate files for changes")]
    public static partial void WatchingCertificateFiles(this ILogger logger, int count);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Cannot watch directory {Directory} for certificate changes; polling only")]
    public static partial void CannotWatchDirectory(this ILogger logger, string directory, Exception exception);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "TLS certificate warning: {Warning}")]
    public static partial void CertificateWarning(this ILogger logger, string warning);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "Reusing the self-signed certificate {CertificateFile} for {HostName}, expires {NotAfter:u}")]
    public static partial void SelfSignedReused(this ILogger logger, string certificateFile, string hostName, DateTime notAfter);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Warning, Message = "Created a self-signed certificate {CertificateFile} for {HostName}, expires {NotAfter:u}; partners that verify certificates will not accept it")]
    public static partial void SelfSignedCreated(this ILogger logger, string certificateFile, string hostName, DateTime notAfter);

    [LoggerMessage(EventId = 2022, Level = LogLevel.Information, Message = "Replacing the self-signed certificate {CertificateFile}: {Reason}")]
    public static partial void SelfSignedReplaced(this ILogger logger, string certificateFile, string reason);
}
