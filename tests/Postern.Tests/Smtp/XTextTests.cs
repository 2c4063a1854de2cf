using Postern.Smtp;

namespace Postern.Tests.Smtp;

public class XTextTests
{
    [Theory]
    [InlineData("", "")]
    [InlineData("abc", "abc")]
    [InlineData("a+2Bb", "a+b")]
    [InlineData("a+3Db", "a=b")]
    [InlineData("+20", " ")]
    [InlineData("a+2bb", "a+b")]
    [InlineData("QQ+2C+3C", "QQ,<")]
    [InlineData("+C3+BC", "ü")]
    [InlineData("user@example.com", "user@example.com")]
    public void Decodes(string xtext, string expected)
    {
        Assert.True(XText.TryDecode(xtext, out string decoded));
        Assert.Equal(expected, decoded);
    }

    [Theory]
    [InlineData("a+")]
    [InlineData("a+2")]
    [InlineData("a+2G")]
    [InlineData("a+G2")]
    [InlineData("a=b")]
    [InlineData("a b")]
    [InlineData("a\tb")]
    [InlineData("aü")]
    [InlineData("\u007f")]
    [InlineData("+C3")]
    [InlineData("+FF")]
    public void Refuses_malformed(string xtext)
    {
        Assert.False(XText.TryDecode(xtext, out _));
    }

    [Theory]
    [InlineData("abc", "abc")]
    [InlineData("a+b=c", "a+2Bb+3Dc")]
    [InlineData("a b", "a+20b")]
    [InlineData("ü", "+C3+BC")]
    [InlineData("\u007f\n", "+7F+0A")]
    public void Encodes_with_upper_case_hex(string text, string expected)
    {
        Assert.Equal(expected, XText.Encode(text));
        Assert.True(XText.TryDecode(expected, out string back));
        Assert.Equal(text, back);
    }
}
