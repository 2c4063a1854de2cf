using Postern.Tls;

namespace Postern.Tests.Tls;

public class CertificateReloadTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Overwritten_files_are_presented_on_the_next_handshake_and_open_sessions_continue()
    {
        var first = _pki.Issue("mx.gateway.example", ["mx.gateway.example"]);
        var source = _pki.WritePem(first, "gateway");
        var logger = new ListLogger();
        using var store = ServerCertificateStore.Load([source], logger);
        store.StartWatching(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(100));
        var factory = new ServerTlsOptionsFactory(store);
        await using var before = await TlsLoopback.OpenAsync(factory, "mx.gateway.example", _pki.Root);
        Assert.Equal(first.Certificate.Thumbprint, before.Presented.Thumbprint);

        var second = _pki.Issue("mx.gateway.example", ["mx.gateway.example", "smtp.gateway.example"]);
        _pki.WritePem(second, "gateway");

        await WaitUntil(() => store.Default.Leaf.Thumbprint == second.Certificate.Thumbprint);
        await using var after = await TlsLoopback.OpenAsync(factory, "smtp.gateway.example", _pki.Root);
        Assert.Equal(second.Certificate.Thumbprint, after.Presented.Thumbprint);
        Assert.Equal(3, after.Chain.Count);
        Assert.True(await before.PingAsync());
        Assert.True(logger.Has(2001));

        // A broken file is logged and the last good certificate stays.
        File.WriteAllText(source.CertificateFile, "garbage\n");
        await WaitUntil(() => logger.Has(2002));
        await using var afterGarbage = await TlsLoopback.OpenAsync(factory, "mx.gateway.example", _pki.Root);
        Assert.Equal(second.Certificate.Thumbprint, afterGarbage.Presented.Thumbprint);
        Assert.Contains(logger.Entries, e => e.EventId == 2002 && e.Message.Contains("$.gateway.certificates[0]"));
    }

    [Fact]
    public async Task A_file_replaced_by_rename_is_reloaded()
    {
        var first = _pki.Issue("mx.gateway.example", ["mx.gateway.example"]);
        var source = _pki.WritePem(first, "gateway", keyInCertificateFile: true);
        using var store = ServerCertificateStore.Load([source]);
        store.StartWatching(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(100));

        var second = _pki.Issue("mx.gateway.example", ["mx.gateway.example"]);
        var staged = _pki.WritePem(second, "staged", keyInCertificateFile: true);
        File.Move(staged.CertificateFile, source.CertificateFile, overwrite: true);

        await WaitUntil(() => store.Default.Leaf.Thumbprint == second.Certificate.Thumbprint);
    }

    [Fact]
    public void Reload_failure_keeps_the_snapshot_and_success_replaces_only_that_certificate()
    {
        var a = _pki.Issue("a.example", ["a.example"]);
        var b = _pki.Issue("b.example", ["b.example"]);
        var sourceA = _pki.WritePem(a, "a");
        var sourceB = _pki.WritePem(b, "b", jsonPath: "$.organizations[0].certificates[0]");
        using var store = ServerCertificateStore.Load([sourceA, sourceB]);
        var pickedBefore = store.Select("b.example");

        File.WriteAllText(sourceB.KeyFile!, TestPki.KeyPem(a.Key, TestPki.KeyFormat.Pkcs8));
        Assert.False(store.Reload(1));
        Assert.Same(pickedBefore, store.Select("b.example"));

        var b2 = _pki.Issue("b.example", ["b.example", "c.example"]);
        _pki.WritePem(b2, "b");
        Assert.True(store.Reload(1));
        Assert.Equal(b2.Certificate.Thumbprint, store.Select("c.example").Leaf.Thumbprint);
        Assert.Equal(a.Certificate.Thumbprint, store.Default.Leaf.Thumbprint);
        Assert.Equal(b.Certificate.Thumbprint, pickedBefore.Leaf.Thumbprint);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 seconds");
            await Task.Delay(50);
        }
    }
}
