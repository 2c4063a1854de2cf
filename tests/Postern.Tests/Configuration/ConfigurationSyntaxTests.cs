using System.Net;
using Postern.Configuration;

namespace Postern.Tests.Configuration;

public sealed class ConfigurationSyntaxTests
{
    [Theory]
    [InlineData("0.0.0.0:25", "0.0.0.0", 25)]
    [InlineData("[::]:465", "::", 465)]
    [InlineData("[2001:db8::1]:2525", "2001:db8::1", 2525)]
    public void ListenerEndpoint_Parses(string text, string address, int port)
    {
        Assert.True(ConfigurationSyntax.TryParseListenerEndpoint(text, out var endpoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), endpoint);
    }

    [Theory]
    [InlineData("relay.example", "relay.example", null)]
    [InlineData("relay.example:2525", "relay.example", 2525)]
    [InlineData("192.0.2.1:25", "192.0.2.1", 25)]
    [InlineData("[2001:db8::1]", "2001:db8::1", null)]
    [InlineData("[2001:db8::1]:53", "2001:db8::1", 53)]
    public void HostAndPort_Parses(string text, string host, int? port)
    {
        Assert.True(ConfigurationSyntax.TryParseHostAndPort(text, allowBareIPv6: false, out var parsedHost, out var parsedPort));
        Assert.Equal(host, parsedHost);
        Assert.Equal(port, parsedPort);
    }

    [Fact]
    public void HostAndPort_BareIPv6_OnlyWhenAllowed()
    {
        Assert.True(ConfigurationSyntax.TryParseHostAndPort("2001:db8::53", allowBareIPv6: true, out var host, out var port));
        Assert.Equal("2001:db8::53", host);
        Assert.Null(port);
        Assert.False(ConfigurationSyntax.TryParseHostAndPort("2001:db8::53", allowBareIPv6: false, out _, out _));
    }

    [Theory]
    [InlineData("192.0.2.1", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("255.255.255.255", true)]
    [InlineData("::1", true)]
    [InlineData("::ffff:192.0.2.1", true)]
    [InlineData("192.0.2", false)]
    [InlineData("3232235777", false)]
    [InlineData("0x7f.0.0.1", false)]
    [InlineData("192.0.02.1", false)]
    [InlineData("192.0.2.256", false)]
    [InlineData("fe80::1%1", false)]
    [InlineData(" 192.0.2.1", false)]
    [InlineData("", false)]
    public void IPAddress_IsStrict(string text, bool valid) =>
        Assert.Equal(valid, ConfigurationSyntax.TryParseIPAddress(text, out _));

    [Theory]
    [InlineData("192.0.2.0/24", "192.0.2.0", 24)]
    [InlineData("192.0.2.9", "192.0.2.9", 32)]
    [InlineData("2001:db8::/48", "2001:db8::", 48)]
    [InlineData("2001:db8::9", "2001:db8::9", 128)]
    [InlineData("0.0.0.0/0", "0.0.0.0", 0)]
    public void AddressOrNetwork_Parses(string text, string baseAddress, int prefix)
    {
        Assert.True(ConfigurationSyntax.TryParseAddressOrNetwork(text, out var network));
        Assert.Equal(new IPNetwork(IPAddress.Parse(baseAddress), prefix), network);
    }

    [Theory]
    [InlineData("*", true, true)]
    [InlineData("*", false, false)]
    [InlineData("*.example", false, true)]
    [InlineData("a.example", false, true)]
    [InlineData("a.*.example", true, false)]
    [InlineData("*.*.example", true, false)]
    [InlineData("a*.example", true, false)]
    public void DomainPattern(string text, bool allowAny, bool valid) =>
        Assert.Equal(valid, ConfigurationSyntax.IsDomainPattern(text, allowAny));

    [Fact]
    public void DomainName_LengthLimits()
    {
        var label = new string('a', 63);
        var longest = string.Join('.', label, label, label, new string('b', 61));
        Assert.Equal(253, longest.Length);
        Assert.True(ConfigurationSyntax.IsDomainName(longest));
        Assert.False(ConfigurationSyntax.IsDomainName(longest + "b"));
        Assert.False(ConfigurationSyntax.IsDomainName(new string('a', 64) + ".example"));
    }

    [Fact]
    public void Sha256Fingerprint_Parses_WithOrWithoutColons()
    {
        const string Hex = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";
        var withColons = string.Join(':', Enumerable.Range(0, 32).Select(i => Hex.Substring(i * 2, 2).ToUpperInvariant()));

        Assert.True(ConfigurationSyntax.TryParseSha256Fingerprint(Hex, out var plain));
        Assert.True(ConfigurationSyntax.TryParseSha256Fingerprint(withColons, out var colons));
        Assert.Equal(Convert.FromHexString(Hex), plain);
        Assert.Equal(plain, colons);
    }
}
