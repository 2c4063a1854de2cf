// placeholder replaced by the tls branch
using System.Security.Cryptography.X509Certificates;
namespace Postern.Tls;
public static class CertificateNames
{
    public static IReadOnlyList<string> GetDnsNames(X509Certificate2 certificate) => throw new NotImplementedException();
    public static bool MatchesPattern(string contractPattern, string name) => throw new NotImplementedException();
    public static bool MatchesHost(string presentedName, string hostName) => throw new NotImplementedException();
}
