using Postern.Tracing;

namespace Postern.Tests.Tracing;

public sealed class TraceTimesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 5, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("7d", "2026-11-22T05:00:00Z")]
    [InlineData("12h", "2026-11-28T17:00:00Z")]
    [InlineData("30m", "2026-11-29T04:30:00Z")]
    [InlineData("90s", "2026-11-29T04:58:30Z")]
    [InlineData("2w", "2026-11-15T05:00:00Z")]
    [InlineData("1D", "2026-11-28T05:00:00Z")]
    [InlineData(" 0h ", "2026-11-29T05:00:00Z")]
    [InlineData("2026-11-29", "2026-11-29T00:00:00Z")]
    [InlineData("2026-11-29T03:15:00Z", "2026-11-29T03:15:00Z")]
    [InlineData("2026-11-29T03:15:00", "2026-11-29T03:15:00Z")]
    [InlineData("2026-11-29 03:15", "2026-11-29T03:15:00Z")]
    [InlineData("2026-11-29T05:15:00+02:00", "2026-11-29T03:15:00Z")]
    [InlineData("2026-11-29T03:15:00.250Z", "2026-11-29T03:15:00.250Z")]
    public void Parses_ISO_8601_and_spans_back_from_now(string text, string expected)
    {
        Assert.True(TraceTimes.TryParse(text, Now, out DateTimeOffset time));
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), time);
    }

    [Theory]
    [InlineData("")]
    [InlineData("7x")]
    [InlineData("d")]
    [InlineData("-5d")]
    [InlineData("5 d")]
    [InlineData("1.5h")]
    [InlineData("yesterday")]
    [InlineData("2026-13-01")]
    [InlineData("99999999999d")]
    public void Refuses_anything_else(string text)
    {
        Assert.False(TraceTimes.TryParse(text, Now, out _));
    }

    [Fact]
    public void The_problem_says_what_is_expected()
    {
        Assert.Equal("--since \"soon\" is not a time: expected ISO 8601 (2026-11-29, 2026-11-29T05:00:00Z) or a span back from now (7d, 12h, 30m)",
            TraceTimes.Problem("--since", "soon"));
    }
}
