using System.Diagnostics;
using Postern.Tls;

namespace Postern.Tests.Tls;

public class CertificateLoaderTests : IDisposable
{
    private const string JsonPath = "$.gateway.certificates[0]";
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Theory]
    [InlineData(false, TestPki.KeyFormat.Pkcs8, false)]
    [InlineData(false, TestPki.KeyFormat.Traditional, false)]
    [InlineData(false, TestPki.KeyFormat.Pkcs8, true)]
    [InlineData(false, TestPki.KeyFormat.Traditional, true)]
    [InlineData(true, TestPki.KeyFormat.Pkcs8, false)]
    [InlineData(true, TestPki.KeyFormat.Traditional, false)]
    [InlineData(true, TestPki.KeyFormat.Traditional, true)]
    [InlineData(true, TestPki.KeyFormat.EncryptedPkcs8, false)]
    [InlineData(false, TestPki.KeyFormat.EncryptedPkcs8, true)]
    public void Loads_PEM_leaf_chain_and_key(bool rsa, TestPki.KeyFormat format, bool keyInCertificateFile)
    {
        var leaf = _pki.Issue("mx.gateway.example", ["mx.gateway.example", "*.gateway.example"], rsa);
        var password = format == TestPki.KeyFormat.EncryptedPkcs8 ? "s3cret" : null;
        var source = _pki.WritePem(leaf, "gateway", format, keyInCertificateFile, password: password);

        var loaded = CertificateLoader.Load(source);

        Assert.True(loaded.Leaf.HasPrivateKey);
        Assert.Equal(leaf.Certificate.Thumbprint, loaded.Leaf.Thumbprint);
        Assert.Equal(_pki.Intermediate.Thumbprint, Assert.Single(loaded.Intermediates).Thumbprint);
        Assert.Equal(["mx.gateway.example", "*.gateway.example"], loaded.DnsNames);
        Assert.Same(source, loaded.Source);
    }

    [Theory]
    [InlineData(".pfx")]
    [InlineData(".p12")]
    public void Loads_PKCS12_with_password_and_chain(string extension)
    {
        var leaf = _pki.Issue("mail.fabrikam.example", ["mail.fabrikam.example"], rsa: true);
        var source = _pki.WritePfx(leaf, "fabrikam", "pfx-pass", extension);

        var loaded = CertificateLoader.Load(source);

        Assert.True(loaded.Leaf.HasPrivateKey);
        Assert.Equal(leaf.Certificate.Thumbprint, loaded.Leaf.Thumbprint);
        Assert.Equal(_pki.Intermediate.Thumbprint, Assert.Single(loaded.Intermediates).Thumbprint);
    }

    [Theory]
    [InlineData("rsa")]
    [InlineData("ec")]
    public void Loads_PEM_made_by_the_openssl_CLI(string kind)
    {
        var dir = _pki.Directory;
        var key = Path.Combine(dir, kind + ".key");
        var cert = Path.Combine(dir, kind + ".pem");
        if (kind == "rsa")
        {
            OpenSsl($"genrsa -traditional -out {key} 2048");
        }
        else
        {
            // Writes "EC PARAMETERS" before "EC PRIVATE KEY", as many guides produce.
            OpenSsl($"ecparam -name prime256v1 -genkey -out {key}");
        }

        OpenSsl($"req -new -x509 -key {key} -out {cert} -days 30 -subj /CN=mx.openssl.example -addext subjectAltName=DNS:mx.openssl.example,DNS:alt.openssl.example");

        var loaded = CertificateLoader.Load(new CertificateSource(cert, key, null, "gateway", JsonPath));

        Assert.True(loaded.Leaf.HasPrivateKey);
        Assert.Equal(["mx.openssl.example", "alt.openssl.example"], loaded.DnsNames);
        Assert.Empty(loaded.Intermediates);
    }

    [Fact]
    public void Missing_certificate_file() =>
        AssertFails(new CertificateSource(_pki.PathOf("absent.pem"), null, null, "gateway", JsonPath), ".certificateFile", "does not exist");

    [Fact]
    public void Missing_key_file()
    {
        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"]), "a");
        AssertFails(source with { KeyFile = _pki.PathOf("absent.key") }, ".keyFile", "does not exist");
    }

    [Fact]
    public void Unreadable_certificate_file_a_directory() =>
        AssertFails(new CertificateSource(_pki.Directory, null, null, "gateway", JsonPath), ".certificateFile", "is a directory");

    [Fact]
    public void Unreadable_certificate_file_permissions()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"]), "a");
        File.SetUnixFileMode(source.CertificateFile, UnixFileMode.None);
        if (Environment.UserName == "root" || IsReadable(source.CertificateFile))
        {
            return; // root reads anything; the directory case covers the path
        }

        AssertFails(source, ".certificateFile", "cannot read");
    }

    [Fact]
    public void File_without_certificate()
    {
        var file = _pki.PathOf("garbage.pem");
        File.WriteAllText(file, "not a certificate\n");
        AssertFails(new CertificateSource(file, null, null, "gateway", JsonPath), ".certificateFile", "neither PEM nor");
    }

    [Fact]
    public void PEM_file_holding_only_a_key()
    {
        var leaf = _pki.Issue("a.example", ["a.example"]);
        var file = _pki.PathOf("only-key.pem");
        File.WriteAllText(file, TestPki.KeyPem(leaf.Key, TestPki.KeyFormat.Pkcs8));
        AssertFails(new CertificateSource(file, null, null, "gateway", JsonPath), ".certificateFile", "holds no PEM certificate");
    }

    [Fact]
    public void No_private_key()
    {
        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"]), "a");
        AssertFails(source with { KeyFile = null }, "", "no private key");
    }

    [Fact]
    public void Key_file_without_key()
    {
        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"]), "a");
        File.WriteAllText(source.KeyFile!, _pki.Root.ExportCertificatePem());
        AssertFails(source, ".keyFile", "holds no PEM private key");
    }

    [Fact]
    public void Key_does_not_match_certificate()
    {
        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"]), "a");
        File.WriteAllText(source.KeyFile!, TestPki.KeyPem(_pki.Issue("b.example", ["b.example"]).Key, TestPki.KeyFormat.Pkcs8));
        AssertFails(source, ".keyFile", "does not match the certificate");
    }

    [Fact]
    public void Key_of_another_algorithm()
    {
        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"], rsa: true), "a");
        File.WriteAllText(source.KeyFile!, TestPki.KeyPem(_pki.Issue("b.example", ["b.example"]).Key, TestPki.KeyFormat.Traditional));
        AssertFails(source, ".keyFile", "not an RSA key");
    }

    [Fact]
    public void Encrypted_key_without_password()
    {
        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"]), "a", TestPki.KeyFormat.EncryptedPkcs8, password: "pw");
        AssertFails(source with { Password = null }, ".keyFile", "no password is configured");
    }

    [Fact]
    public void Encrypted_key_with_wrong_password()
    {
        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"]), "a", TestPki.KeyFormat.EncryptedPkcs8, password: "pw");
        AssertFails(source with { Password = "wrong" }, ".keyFile", "cannot be decrypted");
    }

    [Fact]
    public void PKCS12_with_wrong_password()
    {
        var source = _pki.WritePfx(_pki.Issue("a.example", ["a.example"]), "a", "right");
        var e = Assert.Throws<CertificateLoadException>(() => CertificateLoader.Load(source with { Password = "wrong" }));
        Assert.StartsWith("$.organizations[0].certificates[0].certificateFile: ", e.Message);
        Assert.Contains("password", e.Message);
    }

    [Fact]
    public void Expired_certificate()
    {
        var leaf = _pki.Issue("old.example", ["old.example"], notBefore: DateTimeOffset.UtcNow.AddDays(-60), notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        AssertFails(_pki.WritePem(leaf, "old"), ".certificateFile", "expired on");
    }

    [Fact]
    public void Certificate_not_yet_valid()
    {
        var leaf = _pki.Issue("new.example", ["new.example"], notBefore: DateTimeOffset.UtcNow.AddDays(2), notAfter: DateTimeOffset.UtcNow.AddDays(60));
        AssertFails(_pki.WritePem(leaf, "new"), ".certificateFile", "is not valid before");
    }

    [Fact]
    public void Legacy_encrypted_PEM_key_is_explained()
    {
        var source = _pki.WritePem(_pki.Issue("a.example", ["a.example"], rsa: true), "a");
        File.WriteAllText(source.KeyFile!, "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n");
        AssertFails(source, ".keyFile", "legacy OpenSSL encryption");
    }

    [Fact]
    public void Store_load_names_the_failing_source()
    {
        var good = _pki.WritePem(_pki.Issue("a.example", ["a.example"]), "a");
        var bad = new CertificateSource(_pki.PathOf("absent.pem"), null, null, "Fabrikam", "$.organizations[1].certificates[2]");
        var e = Assert.Throws<CertificateLoadException>(() => ServerCertificateStore.Load([good, bad]));
        Assert.Equal("$.organizations[1].certificates[2].certificateFile", e.JsonPath);
        Assert.StartsWith("$.organizations[1].certificates[2].certificateFile: ", e.Message);
    }

    private static void AssertFails(CertificateSource source, string pathSuffix, string reason)
    {
        var e = Assert.Throws<CertificateLoadException>(() => CertificateLoader.Load(source));
        Assert.Equal(JsonPath + pathSuffix, e.JsonPath);
        Assert.StartsWith(JsonPath + pathSuffix + ": ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    private static bool IsReadable(string file)
    {
        try
        {
            File.ReadAllBytes(file);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void OpenSsl(string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("openssl", arguments)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"openssl {arguments}: {error}");
    }
}
