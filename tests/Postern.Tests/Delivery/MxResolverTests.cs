using System.Diagnostics;
using System.Net;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Smtp;

namespace Postern.Tests.Delivery;

/// <summary>
/// The resolver without a real DNS server: address literals, IP smart hosts, and the failures
/// (SERVFAIL, REFUSED, silence) of a fake server.
/// </summary>
public sealed class MxResolverTests
{
    // Nothing listens here: a test that reaches DNS when it should not fails with 4.4.3.
    private static readonly DnsSettings NoDns = new() { Servers = ["127.0.0.1:9"], TimeoutSeconds = 1 };

    [Theory]
    [InlineData("[192.0.2.1]", "192.0.2.1")]
    [InlineData("[IPv6:2001:db8::25]", "2001:db8::25")]
    [InlineData("[ipv6:2001:DB8::25]", "2001:db8::25")]
    public async Task Address_literal_resolves_to_its_address_without_DNS(string domain, string expected)
    {
        var result = await new MxResolver(NoDns).ResolveAsync(domain, CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        var host = Assert.Single(result.Hosts);
        Assert.Equal([IPAddress.Parse(expected)], host.Addresses);
        Assert.True(host.IsImplicit);
    }

    [Theory]
    [InlineData("[192.0.2]")]
    [InlineData("[2001:db8::25]")]
    [InlineData("[IPv6:192.0.2.1]")]
    [InlineData("[mx.example.com]")]
    [InlineData("[192.0.2.1")]
    public async Task Malformed_address_literal_is_permanent(string domain)
    {
        var result = await new MxResolver(NoDns).ResolveAsync(domain, CancellationToken.None);

        Assert.True(result.IsPermanentFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("5.1.3"), result.Status);
    }

    [Theory]
    [InlineData("[192.0.2.7]:2525", "192.0.2.7", 2525)]
    [InlineData("[192.0.2.7]", "192.0.2.7", null)]
    [InlineData("192.0.2.7:587", "192.0.2.7", 587)]
    [InlineData("[2001:db8::7]:26", "2001:db8::7", 26)]
    public async Task Smart_host_literal_keeps_its_port(string smartHost, string address, int? port)
    {
        var result = await new MxResolver(NoDns).ResolveHostAsync(smartHost, CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        var host = Assert.Single(result.Hosts);
        Assert.Equal([IPAddress.Parse(address)], host.Addresses);
        Assert.Equal(port, host.Port);
    }

    [Fact]
    public async Task Malformed_smart_host_defers_rather_than_bounces()
    {
        var result = await new MxResolver(NoDns).ResolveHostAsync("relay.example:99999", CancellationToken.None);

        Assert.True(result.IsTransientFailure, result.ToString());
    }

    [Theory]
    [InlineData(FakeDnsBehavior.ServerFailure, "SERVFAIL")]
    [InlineData(FakeDnsBehavior.Refused, "REFUSED")]
    public async Task Server_failure_defers_with_4_4_3(FakeDnsBehavior behavior, string reason)
    {
        using var server = new FakeDnsServer(behavior);
        var resolver = new MxResolver(new DnsSettings { Servers = [server.Server], TimeoutSeconds = 2 });

        var result = await resolver.ResolveAsync("example.test", CancellationToken.None);

        Assert.True(result.IsTransientFailure, result.ToString());
        Assert.False(result.IsPermanentFailure);
        Assert.Equal(EnhancedStatusCode.Parse("4.4.3"), result.Status);
        Assert.StartsWith("DNS temporary failure: ", result.Error, StringComparison.Ordinal);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Hosts);
    }

    [Fact]
    public async Task Unicode_domain_is_looked_up_in_its_A_label_form()
    {
        using var server = new FakeDnsServer(FakeDnsBehavior.ServerFailure);
        var resolver = new MxResolver(new DnsSettings { Servers = [server.Server], TimeoutSeconds = 2 });

        var result = await resolver.ResolveAsync("B\u00fccher.test", CancellationToken.None);

        Assert.True(result.IsTransientFailure, result.ToString());
        Assert.Contains("xn--bcher-kva.test MX", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Smart_host_lookup_failure_defers()
    {
        using var server = new FakeDnsServer(FakeDnsBehavior.ServerFailure);
        var resolver = new MxResolver(new DnsSettings { Servers = [server.Server], TimeoutSeconds = 2 });

        var result = await resolver.ResolveHostAsync("relay.test:2525", CancellationToken.None);

        Assert.True(result.IsTransientFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("4.4.3"), result.Status);
    }

    [Fact]
    public async Task Timeout_defers_within_the_configured_time()
    {
        using var server = new FakeDnsServer(FakeDnsBehavior.Silent);
        var resolver = new MxResolver(new DnsSettings { Servers = [server.Server], TimeoutSeconds = 1 });
        Assert.Equal(TimeSpan.FromSeconds(3), resolver.MaxQueryTime);

        var stopwatch = Stopwatch.StartNew();
        var result = await resolver.ResolveAsync("example.test", CancellationToken.None);
        stopwatch.Stop();

        Assert.True(result.IsTransientFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("4.4.3"), result.Status);
        Assert.Contains("timed out", result.Error, StringComparison.Ordinal);
        // One try and two retries of one second each, plus a margin for a loaded machine.
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromSeconds(0.9), resolver.MaxQueryTime + TimeSpan.FromSeconds(3));
        Assert.Equal(3, server.Queries);
    }

    [Fact]
    public async Task Cancellation_throws_rather_than_deferring()
    {
        using var server = new FakeDnsServer(FakeDnsBehavior.Silent);
        var resolver = new MxResolver(new DnsSettings { Servers = [server.Server], TimeoutSeconds = 5 });
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => resolver.ResolveAsync("example.test", cancel.Token));
    }

    [Fact]
    public async Task Failure_results_are_not_cached()
    {
        using var server = new FakeDnsServer(FakeDnsBehavior.ServerFailure);
        var resolver = new MxResolver(new DnsSettings { Servers = [server.Server], TimeoutSeconds = 2 });

        await resolver.ResolveAsync("example.test", CancellationToken.None);
        var before = server.Queries;
        await resolver.ResolveAsync("example.test", CancellationToken.None);

        Assert.True(server.Queries > before);
    }

    [Theory]
    [InlineData("")]
    [InlineData("exa mple.test")]
    [InlineData("a..test")]
    public async Task Invalid_domain_is_permanent_without_DNS(string domain)
    {
        var result = await new MxResolver(NoDns).ResolveAsync(domain, CancellationToken.None);

        Assert.True(result.IsPermanentFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("5.1.2"), result.Status);
    }
}
