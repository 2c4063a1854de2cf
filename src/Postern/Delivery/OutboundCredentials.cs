using System.Net.Security;
using Postern.Configuration;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>
/// What an outbound attempt trusts and what it presents, decided in one place for delivery and for
/// <c>connector validate</c>, so that the validation is exactly the policy delivery applies.
/// </summary>
public static class OutboundCredentials
{
    /// <summary>The gateway's trust, plus the connector's own roots when it has some.</summary>
    public static TrustPolicy Trust(TrustSettings gateway, TrustPolicy gatewayTrust, DeliveryRoute route) =>
        route.TrustedRoots.Count == 0 || route.Connector is null
            ? gatewayTrust
            : TrustPolicy.Load(gateway.UseSystemStore, [.. gateway.AdditionalRoots, .. route.TrustedRoots]);

    /// <summary>Where the connector's own client certificate comes from; null when it has none.</summary>
    public static CertificateSource? ConnectorCertificate(DeliveryRoute route) =>
        route.ClientCertificate is { } c && route.Connector is { } connector
            ? new CertificateSource(c.CertificateFile, c.KeyFile, c.Password, route.Organization ?? "gateway", $"outbound connector \"{connector}\" clientCertificate")
            : null;

    /// <summary>Without a connector certificate: the organization's own certificate, else the gateway's default.</summary>
    public static SslStreamCertificateContext? FromStore(DeliveryRoute route, ServerCertificateStore? store)
    {
        if (store is null) return null;
        if (route.Organization is { } organization && store.All.FirstOrDefault(x => x.Source.Owner == organization) is { } own) return own.Context;
        return store.Default.Context;
    }
}
