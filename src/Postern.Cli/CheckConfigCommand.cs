using System.CommandLine;
using Postern.Configuration;
using Postern.Hosting;
using Postern.Tls;

namespace Postern.Cli;

/// <summary><c>postern check-config</c>: every problem with its JSON path; non-zero exit when there are errors.</summary>
internal static class CheckConfigCommand
{
    public static Command Create()
    {
        Option<FileInfo?> config = CommonOptions.Config();
        var command = new Command("check-config", "Validate a configuration file and its certificates; print every problem with its JSON path.")
        {
            config,
        };
        command.SetAction(parse => Run(parse.GetValue(config)));
        return command;
    }

    private static int Run(FileInfo? file)
    {
        PosternConfiguration? configuration = CommonOptions.LoadOrReport(file, Console.Error, out int errors);
        if (configuration is null)
        {
            Console.Error.WriteLine($"{errors} error(s); the configuration cannot be used.");
            return 1;
        }

        // Certificate contents (key present and matching, not expired) are checked by loading them.
        var loaded = new List<ServerCertificate>();
        foreach (CertificateSource source in PosternGateway.CertificateSources(configuration))
        {
            try
            {
                using ServerCertificateStore store = ServerCertificateStore.Load([source]);
                loaded.AddRange(store.All);
            }
            catch (CertificateLoadException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                errors++;
            }
        }
        // Outbound client certificates and extra roots are loaded the same way delivery will load them.
        for (int o = 0; o < configuration.Organizations.Count; o++)
        {
            OrganizationSettings organization = configuration.Organizations[o];
            for (int c = 0; c < organization.OutboundConnectors.Count; c++)
            {
                OutboundConnectorSettings connector = organization.OutboundConnectors[c];
                string path = $"$.organizations[{o}].outboundConnectors[{c}]";
                if (connector.ClientCertificate is { } client)
                {
                    try
                    {
                        CertificateLoader.Load(new CertificateSource(client.CertificateFile, client.KeyFile, client.Password, organization.Name, $"{path}.clientCertificate"));
                    }
                    catch (CertificateLoadException e)
                    {
                        Console.Error.WriteLine($"error: {e.Message}");
                        errors++;
                    }
                }
                for (int r = 0; r < connector.TrustedRoots.Count; r++)
                {
                    if (!HoldsCertificates(connector.TrustedRoots[r]))
                    {
                        Console.Error.WriteLine($"error: {path}.trustedRoots[{r}]: {connector.TrustedRoots[r]} holds no PEM certificate");
                        errors++;
                    }
                }
            }
        }
        for (int r = 0; r < configuration.Gateway.Trust.AdditionalRoots.Count; r++)
        {
            if (!HoldsCertificates(configuration.Gateway.Trust.AdditionalRoots[r]))
            {
                Console.Error.WriteLine($"error: $.gateway.trust.additionalRoots[{r}]: {configuration.Gateway.Trust.AdditionalRoots[r]} holds no PEM certificate");
                errors++;
            }
        }
        if (errors > 0)
        {
            Console.Error.WriteLine($"{errors} error(s); the configuration cannot be used.");
            return 1;
        }

        string hostName = configuration.Gateway.HostName ?? PosternGateway.MachineHostName();
        if (PosternGateway.CertificateSources(configuration).Count > 0 && configuration.Gateway.Certificates.Count > 0)
        {
            using ServerCertificateStore all = ServerCertificateStore.Load(PosternGateway.CertificateSources(configuration));
            foreach (string warning in CertificateDiagnostics.Check(all, hostName, DateTimeOffset.UtcNow))
                Console.Error.WriteLine($"warning: {warning}");
        }

        Console.WriteLine(file is null
            ? "The embedded default configuration is valid."
            : $"{file.FullName}: valid ({configuration.Gateway.Listeners.Count} listener(s), {configuration.Organizations.Count} organization(s), {loaded.Count} certificate(s)).");
        return 0;
    }

    private static bool HoldsCertificates(string file)
    {
        try
        {
            var bundle = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            bundle.ImportFromPemFile(file);
            return bundle.Count > 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            return false;
        }
    }
}
