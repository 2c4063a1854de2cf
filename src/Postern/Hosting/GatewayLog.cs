using Microsoft.Extensions.Logging;

namespace Postern.Hosting;

/// <summary>Log messages of start, stop and configuration; event ids 100-199 are stable.</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(100, LogLevel.Information, "Postern {HostName} starting; data directory {DataDirectory}")]
    public static partial void Starting(ILogger logger, string hostName, string dataDirectory);

    [LoggerMessage(101, LogLevel.Information, "Spool recovered: {Messages} message(s) queued, {Partial} partial entr(ies) removed")]
    public static partial void SpoolRecovered(ILogger logger, int messages, int partial);

    [LoggerMessage(102, LogLevel.Warning, "{Warning}")]
    public static partial void CertificateWarning(ILogger logger, string warning);

    [LoggerMessage(103, LogLevel.Information, "Using self-signed certificate {CertificateFile} for {HostName}")]
    public static partial void SelfSigned(ILogger logger, string certificateFile, string hostName);

    [LoggerMessage(104, LogLevel.Information, "Postern stopping")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(105, LogLevel.Information, "Postern stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(106, LogLevel.Information, "Certificate for {Names} from {File} ({Owner})")]
    public static partial void CertificateLoaded(ILogger logger, string names, string file, string owner);

    [LoggerMessage(107, LogLevel.Information, "Configuration reloaded from {Path}")]
    public static partial void Reloaded(ILogger logger, string path);

    [LoggerMessage(108, LogLevel.Error, "Configuration reload: {JsonPath}: {Message}")]
    public static partial void ReloadError(ILogger logger, string jsonPath, string message);

    [LoggerMessage(109, LogLevel.Error, "Configuration reload from {Path} rejected ({Errors} error(s)); the last good configuration stays in force")]
    public static partial void ReloadRejected(ILogger logger, string path, int errors);

    [LoggerMessage(110, LogLevel.Warning, "Configuration reload: changes to listeners, the data directory or gateway.queue take effect at the next start")]
    public static partial void ReloadNeedsRestart(ILogger logger);
}
