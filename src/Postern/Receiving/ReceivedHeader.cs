using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Postern.Spool;

namespace Postern.Receiving;

/// <summary>
/// The trace header the gateway prepends (RFC 5321 4.4), with the TLS clause in the form Postfix
/// made familiar and the RFC 3848 / RFC 6531 protocol type.
/// </summary>
public static class ReceivedHeader
{
    public static string Format(Envelope envelope, string hostName, ClientCertificateIdentity? clientCertificate)
    {
        var b = new StringBuilder(320);
        b.Append("Received: from ").Append(Clean(envelope.HeloName.Length > 0 ? envelope.HeloName : "unknown"))
         .Append(" (").Append(envelope.ClientName ?? "unknown").Append(" [").Append(envelope.ClientAddress).Append("])\r\n");
        if (envelope.Tls is { } tls)
        {
            b.Append("\t(using ").Append(tls.Protocol).Append(" with cipher ").Append(tls.CipherSuite);
            if (tls.CipherStrength is { } bits) b.Append(" (").Append(bits).Append('/').Append(bits).Append(" bits)");
            b.Append(")\r\n");
            if (clientCertificate is { } client)
            {
                b.Append("\t(Client CN \"").Append(Clean(client.Certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false)))
                 .Append("\", Issuer \"").Append(Clean(client.Certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: true)))
                 .Append("\" (").Append(client.IsTrusted ? "verified OK" : "not verified").Append("))\r\n");
            }
            else
            {
                b.Append("\t(No client certificate requested or presented)\r\n");
            }
        }
        b.Append("\tby ").Append(hostName).Append(" (Postern) with ").Append(envelope.Protocol).Append(" id ").Append(envelope.QueueId);
        if (envelope.Recipients.Count == 1) b.Append("\r\n\tfor <").Append(Clean(envelope.Recipients[0].Address)).Append('>');
        b.Append("; ").Append(envelope.ReceivedAt.ToUniversalTime().ToString("ddd, dd MMM yyyy HH:mm:ss '+0000 (UTC)'", CultureInfo.InvariantCulture)).Append("\r\n");
        return b.ToString();
    }

    // Nothing a peer sends may break the header's structure.
    private static string Clean(string text)
    {
        if (!text.AsSpan().ContainsAny("\r\n\"()\\")) return text;
        var b = new StringBuilder(text.Length);
        foreach (char c in text) b.Append(c is '\r' or '\n' or '"' or '(' or ')' or '\\' ? '?' : c);
        return b.ToString();
    }
}
