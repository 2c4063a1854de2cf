// placeholder replaced by the tls branch
namespace Postern.Tls;
public static class CertificateDiagnostics
{
    public static IReadOnlyList<string> Check(ServerCertificateStore store, string hostName, DateTimeOffset now) => throw new NotImplementedException();
}
public static class SelfSignedCertificate
{
    public static CertificateSource EnsureExists(string directory, string hostName, Microsoft.Extensions.Logging.ILogger? logger) => throw new NotImplementedException();
}
