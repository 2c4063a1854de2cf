using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Postern.Tests.Interop;

/// <summary>The kind of key a test certificate carries.</summary>
public enum TestKeyType
{
    /// <summary>RSA 2048.</summary>
    Rsa,

    /// <summary>ECDSA on P-256.</summary>
    Ecdsa,
}

/// <summary>What a leaf certificate may be used for (its extendedKeyUsage).</summary>
public enum TestCertificateUsage
{
    /// <summary>serverAuth.</summary>
    Server,

    /// <summary>clientAuth.</summary>
    Client,

    /// <summary>serverAuth and clientAuth, as a relay that both receives and sends uses.</summary>
    ServerAndClient,
}

/// <summary>Files of one issued leaf certificate, all PEM.</summary>
/// <param name="Name">Common name of the leaf.</param>
/// <param name="CertificatePath">The leaf alone.</param>
/// <param name="KeyPath">The leaf's unencrypted private key.</param>
/// <param name="FullChainPath">Leaf followed by the intermediate that issued it (what a server presents).</param>
/// <param name="RootPath">The root that anchors the chain (the rogue root for rogue leaves).</param>
/// <param name="IntermediatePath">The intermediate that issued the leaf.</param>
public sealed record IssuedCertificate(
    string Name,
    string CertificatePath,
    string KeyPath,
    string FullChainPath,
    string RootPath,
    string IntermediatePath)
{
    /// <summary>The leaf's PEM text.</summary>
    public string CertificatePem => File.ReadAllText(CertificatePath);

    /// <summary>The leaf without its key.</summary>
    public X509Certificate2 LoadCertificate() => X509CertificateLoader.LoadCertificateFromFile(CertificatePath);

    /// <summary>The leaf with its private key, usable for <c>SslStream</c>.</summary>
    public X509Certificate2 LoadWithKey()
    {
        using var ephemeral = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);
        // Linux SslStream needs a key that is not ephemeral; a PKCS#12 round trip gives one.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
    }
}

/// <summary>
/// A throwaway PKI made with the <c>openssl</c> command line in a temporary directory: a root CA,
/// an intermediate CA (pathlen:0) under it, leaves issued on demand, and a rogue root and
/// intermediate nobody trusts. Nothing is committed; every file is generated at test time.
/// </summary>
public sealed class TestPki : IDisposable
{
    private static readonly TimeSpan OpenSslTimeout = TimeSpan.FromSeconds(60);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, IssuedCertificate> _issued = new(StringComparer.Ordinal);
    private (Authority Root, Authority Intermediate)? _rogue;

    private TestPki(string directory, Authority root, Authority intermediate)
    {
        Directory = directory;
        Root = root;
        Intermediate = intermediate;
    }

    /// <summary>The directory holding every file of this PKI.</summary>
    public string Directory { get; }

    /// <summary>The trusted root certificate (PEM); use as a CAfile.</summary>
    public string RootCertificatePath => Root.CertificatePath;

    /// <summary>The intermediate CA certificate (PEM).</summary>
    public string IntermediateCertificatePath => Intermediate.CertificatePath;

    /// <summary>Subject of the root, as openssl prints it (<c>CN = ..., O = ...</c>).</summary>
    public string RootSubject => Root.Subject;

    /// <summary>Subject of the intermediate, as openssl prints it.</summary>
    public string IntermediateSubject => Intermediate.Subject;

    /// <summary>A root no test trusts, which issued the rogue intermediate.</summary>
    public string RogueRootCertificatePath => Rogue.Root.CertificatePath;

    private Authority Root { get; }

    private Authority Intermediate { get; }

    private (Authority Root, Authority Intermediate) Rogue
    {
        get
        {
            lock (_gate)
            {
                if (_rogue is null)
                {
                    var root = CreateRootAsync(Directory, "rogue-root", "Rogue Root CA").GetAwaiter().GetResult();
                    var intermediate = CreateIntermediateAsync(Directory, "rogue-intermediate", "Rogue Intermediate CA", root)
                        .GetAwaiter().GetResult();
                    _rogue = (root, intermediate);
                }

                return _rogue.Value;
            }
        }
    }

    /// <summary>Creates the root and intermediate CAs in a new temporary directory.</summary>
    public static async Task<TestPki> CreateAsync()
    {
        InteropTools.Require("openssl", "faketime");
        var directory = System.IO.Directory.CreateTempSubdirectory("postern-pki-").FullName;
        var root = await CreateRootAsync(directory, "root", "Postern Test Root CA");
        var intermediate = await CreateIntermediateAsync(directory, "intermediate", "Postern Test Intermediate CA", root);
        return new TestPki(directory, root, intermediate);
    }

    /// <summary>A server certificate (RSA) for <paramref name="name"/>; SANs default to the name.</summary>
    /// <param name="name">Common name and file name stem.</param>
    /// <param name="sans">DNS names or IP addresses; "DNS:", "IP:" or "email:" prefixes are kept as given.</param>
    public IssuedCertificate IssueServer(string name, params string[] sans) =>
        Issue(name, sans, TestKeyType.Rsa, TestCertificateUsage.Server);

    /// <summary>A server certificate with an ECDSA P-256 key.</summary>
    public IssuedCertificate IssueServerEcdsa(string name, params string[] sans) =>
        Issue(name, sans, TestKeyType.Ecdsa, TestCertificateUsage.Server);

    /// <summary>A client certificate (RSA, clientAuth) for <paramref name="name"/>.</summary>
    public IssuedCertificate IssueClient(string name, params string[] sans) =>
        Issue(name, sans, TestKeyType.Rsa, TestCertificateUsage.Client);

    /// <summary>A client certificate with an ECDSA P-256 key.</summary>
    public IssuedCertificate IssueClientEcdsa(string name, params string[] sans) =>
        Issue(name, sans, TestKeyType.Ecdsa, TestCertificateUsage.Client);

    /// <summary>A server certificate from the trusted chain whose validity ended 370 days ago.</summary>
    public IssuedCertificate IssueExpired(string name, params string[] sans) =>
        Issue(name, sans, TestKeyType.Rsa, TestCertificateUsage.ServerAndClient, expired: true);

    /// <summary>A server certificate chained to <see cref="RogueRootCertificatePath"/>, which nobody trusts.</summary>
    public IssuedCertificate IssueFromRogueCa(string name, params string[] sans) =>
        Issue(name, sans, TestKeyType.Rsa, TestCertificateUsage.ServerAndClient, rogue: true);

    /// <summary>
    /// Issues (or returns the already issued) leaf for these exact parameters.
    /// </summary>
    public IssuedCertificate Issue(
        string name,
        IReadOnlyList<string> sans,
        TestKeyType keyType,
        TestCertificateUsage usage,
        bool expired = false,
        bool rogue = false)
    {
        var issuer = rogue ? Rogue.Intermediate : Intermediate;
        IReadOnlyList<string> sanList = sans.Count == 0 ? [name] : sans;
        var key = string.Join('|', name, string.Join(',', sanList), keyType, usage, expired, rogue);
        lock (_gate)
        {
            if (_issued.TryGetValue(key, out var existing))
            {
                return existing;
            }

            var stem = Path.Combine(Directory, $"leaf{_issued.Count:D3}-{SafeFileName(name)}");
            var eku = usage switch
            {
                TestCertificateUsage.Server => "serverAuth",
                TestCertificateUsage.Client => "clientAuth",
                _ => "serverAuth,clientAuth",
            };
            var extensions =
                "basicConstraints = critical, CA:FALSE\n" +
                $"keyUsage = critical, digitalSignature{(keyType == TestKeyType.Rsa ? ", keyEncipherment" : "")}\n" +
                $"extendedKeyUsage = {eku}\n" +
                "subjectKeyIdentifier = hash\n" +
                "authorityKeyIdentifier = keyid\n" +
                $"subjectAltName = {string.Join(", ", sanList.Select(SanEntry))}\n";
            IssueAsync(stem, $"/O=Postern Test/CN={name}", keyType, issuer, extensions, days: 30, expired)
                .GetAwaiter().GetResult();
            File.WriteAllText($"{stem}-fullchain.pem", File.ReadAllText($"{stem}.pem") + File.ReadAllText(issuer.CertificatePath));
            var rootPath = rogue ? Rogue.Root.CertificatePath : Root.CertificatePath;
            var issued = new IssuedCertificate(name, $"{stem}.pem", $"{stem}.key", $"{stem}-fullchain.pem", rootPath, issuer.CertificatePath);
            _issued.Add(key, issued);
            return issued;
        }
    }

    /// <summary>Deletes every file of this PKI.</summary>
    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string SanEntry(string san)
    {
        if (san.StartsWith("DNS:", StringComparison.Ordinal) || san.StartsWith("IP:", StringComparison.Ordinal) ||
            san.StartsWith("email:", StringComparison.Ordinal) || san.StartsWith("URI:", StringComparison.Ordinal))
        {
            return san;
        }

        return IPAddress.TryParse(san, out _) ? $"IP:{san}" : $"DNS:{san}";
    }

    private static string SafeFileName(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '_').Take(60).ToArray());

    private static async Task<Authority> CreateRootAsync(string directory, string stem, string commonName)
    {
        var path = Path.Combine(directory, stem);
        var extensions =
            "basicConstraints = critical, CA:TRUE\n" +
            "keyUsage = critical, keyCertSign, cRLSign\n" +
            "subjectKeyIdentifier = hash\n";
        await File.WriteAllTextAsync($"{path}.ext", extensions);
        await OpenSslAsync(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", $"{path}.key", "-out", $"{path}.csr",
            "-subj", $"/O=Postern Test/CN={commonName}");
        await OpenSslAsync(
            "x509", "-req", "-in", $"{path}.csr", "-signkey", $"{path}.key", "-days", "3650", "-sha256",
            "-extfile", $"{path}.ext", "-out", $"{path}.pem");
        return new Authority($"{path}.pem", $"{path}.key", $"O = Postern Test, CN = {commonName}");
    }

    private static async Task<Authority> CreateIntermediateAsync(string directory, string stem, string commonName, Authority root)
    {
        var path = Path.Combine(directory, stem);
        var extensions =
            "basicConstraints = critical, CA:TRUE, pathlen:0\n" +
            "keyUsage = critical, keyCertSign, cRLSign\n" +
            "subjectKeyIdentifier = hash\n" +
            "authorityKeyIdentifier = keyid\n";
        await IssueAsync(path, $"/O=Postern Test/CN={commonName}", TestKeyType.Rsa, root, extensions, days: 1825, expired: false);
        return new Authority($"{path}.pem", $"{path}.key", $"O = Postern Test, CN = {commonName}");
    }

    private static async Task IssueAsync(
        string path, string subject, TestKeyType keyType, Authority issuer, string extensions, int days, bool expired)
    {
        await File.WriteAllTextAsync($"{path}.ext", extensions);
        string[] newKey = keyType == TestKeyType.Rsa
            ? ["-newkey", "rsa:2048"]
            : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        await OpenSslAsync(
            ["req", "-new", .. newKey, "-nodes", "-keyout", $"{path}.key", "-out", $"{path}.csr", "-subj", subject]);
        string[] sign =
        [
            "x509", "-req", "-in", $"{path}.csr", "-CA", issuer.CertificatePath, "-CAkey", issuer.KeyPath,
            "-set_serial", "0x" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)),
            "-days", days.ToString(System.Globalization.CultureInfo.InvariantCulture), "-sha256",
            "-extfile", $"{path}.ext", "-out", $"{path}.pem",
        ];
        if (expired)
        {
            // OpenSSL 3.0 has no -not_before; sign with the clock moved back 400 days instead.
            await RunCheckedAsync(InteropTools.Require("faketime"), ["-f", "-400d", InteropTools.Require("openssl"), .. sign]);
        }
        else
        {
            await OpenSslAsync(sign);
        }
    }

    private static Task OpenSslAsync(params string[] args) => RunCheckedAsync(InteropTools.Require("openssl"), args);

    private static async Task RunCheckedAsync(string program, string[] args)
    {
        var result = await ExternalProcess.RunAsync(program, args, standardInput: null, timeout: OpenSslTimeout);
        if (result.ExitCode != 0 || result.TimedOut)
        {
            throw new InvalidOperationException("creating a test certificate failed\n" + result.Describe());
        }
    }

    private sealed record Authority(string CertificatePath, string KeyPath, string Subject);
}
