using Postern.Probing;

namespace Postern.Tests.Probing;

public sealed class ProbeTargetTests
{
    [Theory]
    [InlineData("example.test", "example.test", 25, true)]
    [InlineData("example.test.", "example.test", 25, true)]
    [InlineData("mx.example.test:587", "mx.example.test", 587, false)]
    [InlineData("[mx.example.test]", "mx.example.test", 25, false)]
    [InlineData("[192.0.2.1]:2525", "192.0.2.1", 2525, false)]
    [InlineData("192.0.2.1", "192.0.2.1", 25, false)]
    [InlineData("[2001:db8::1]:25", "2001:db8::1", 25, false)]
    [InlineData("2001:db8::1", "2001:db8::1", 25, false)]
    public void Parses_next_hop_syntax(string text, string name, int port, bool isDomain)
    {
        var target = ProbeTarget.Parse(text, null, false, out var error);

        Assert.Null(error);
        Assert.Equal(name, target!.Name);
        Assert.Equal(port, target.Port);
        Assert.Equal(isDomain, target.IsDomain);
    }

    [Fact]
    public void Implicit_TLS_defaults_to_port_465() =>
        Assert.Equal(465, ProbeTarget.Parse("[mx.example.test]", null, true, out _)!.Port);

    [Theory]
    [InlineData("")]
    [InlineData("[mx.example.test")]
    [InlineData("mx.example.test:0")]
    [InlineData("mx.example.test:smtp")]
    [InlineData("*.example.test")]
    [InlineData("a..b")]
    [InlineData("http://mx.example.test")]
    public void Refuses_what_is_not_a_target(string text)
    {
        Assert.Null(ProbeTarget.Parse(text, null, false, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
