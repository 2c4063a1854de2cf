using Postern.Smtp;
using static Postern.Tests.Smtp.Sequences;

namespace Postern.Tests.Smtp;

public class BareLineEndingDetectorTests
{
    [Theory]
    [InlineData(new string[0], false)]
    [InlineData(new[] { "" }, false)]
    [InlineData(new[] { "abc" }, false)]
    [InlineData(new[] { "a\r\nb\r\n" }, false)]
    [InlineData(new[] { "a\r", "\nb" }, false)]
    [InlineData(new[] { "a\r", "", "\nb" }, false)]
    [InlineData(new[] { "\r\n", "\r\n" }, false)]
    [InlineData(new[] { "a\nb" }, true)]
    [InlineData(new[] { "\n" }, true)]
    [InlineData(new[] { "a\rb" }, true)]
    [InlineData(new[] { "a\r\r\n" }, true)]
    [InlineData(new[] { "a\r" }, true)]
    [InlineData(new[] { "a\r", "b" }, true)]
    [InlineData(new[] { "a\r\n", "\n" }, true)]
    [InlineData(new[] { "a\r\n", ".\n" }, true)]
    [InlineData(new[] { "a\r", "\r\n" }, true)]
    public void Finds_bare_cr_or_lf_across_chunks(string[] chunks, bool found)
    {
        var detector = new BareLineEndingDetector();
        foreach (string chunk in chunks) detector.Inspect(Fragmented(Bytes(chunk)));
        detector.Complete();
        Assert.Equal(found, detector.Found);

        var whole = new BareLineEndingDetector();
        whole.Inspect(new System.Buffers.ReadOnlySequence<byte>(Bytes(string.Concat(chunks))));
        whole.Complete();
        Assert.Equal(found, whole.Found);
    }

    [Fact]
    public void A_trailing_cr_is_bare_only_once_the_transfer_is_complete()
    {
        var detector = new BareLineEndingDetector();
        detector.Inspect(new System.Buffers.ReadOnlySequence<byte>(Bytes("a\r")));
        Assert.False(detector.Found);
        detector.Complete();
        Assert.True(detector.Found);
    }
}
