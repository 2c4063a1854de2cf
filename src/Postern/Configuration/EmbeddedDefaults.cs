namespace Postern.Configuration;

/// <summary>
/// What <c>postern serve</c> runs without a configuration file: a local relay, like a Postfix null
/// client. It listens on 127.0.0.1:2525 with STARTTLS, presents a self-signed certificate made once
/// and kept in the data directory, stores mail in ./var, and accepts mail for any domain from
/// loopback clients only (an OnPremises connector for 127.0.0.0/8 and ::1).
/// </summary>
public static class EmbeddedDefaults
{
    public const string Endpoint = "127.0.0.1:2525";
    public const string AdminEndpoint = "127.0.0.1:8025";

    public static PosternConfiguration Create() => new()
    {
        Gateway = new GatewaySettings
        {
            DataDirectory = Path.GetFullPath("var"),
            Listeners = [new ListenerSettings { Endpoint = Endpoint, Security = ListenerSecurity.StartTls }],
            Admin = new AdminSettings { Endpoint = AdminEndpoint },
        },
        Organizations =
        [
            new OrganizationSettings
            {
                Name = "Local",
                InboundConnectors =
                [
                    new InboundConnectorSettings
                    {
                        Name = "Loopback relay",
                        ConnectorType = ConnectorType.OnPremises,
                        SenderIPAddresses = ["127.0.0.0/8", "::1"],
                    },
                ],
            },
        ],
    };
}
