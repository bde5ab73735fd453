namespace Augur.Tests;

/// <summary>What <see cref="SafeText"/> makes of hostile strings: visible escapes, a bound, nothing a terminal obeys.</summary>
public sealed class SafeTextTests
{
    [Theory]
    [InlineData("plain name", "plain name")]
    [InlineData("\u001b[31mred\u001b[0m", @"\x1b[31mred\x1b[0m")]
    [InlineData("a\nb\r\tc\0", @"a\nb\r\tc\x00")]
    [InlineData("back\\slash", @"back\\slash")]
    [InlineData("del\u007f c1\u009b", @"del\x7f c1\x9b")]
    [InlineData("bidi\u202eevil\u200b", @"bidi\u202eevil\u200b")]
    [InlineData("line\u2028para\u2029nbsp\u00a0", @"line\u2028para\u2029nbsp\xa0")]
    [InlineData("日本語 ünïcode 🙂", "日本語 ünïcode 🙂")]
    public void Quote_escapes_what_is_not_printable_and_keeps_text(string value, string expected) =>
        Assert.Equal(expected, SafeText.Quote(value));

    [Fact]
    public void A_lone_surrogate_is_escaped_and_a_pair_kept()
    {
        // Built in code: xunit cannot carry a lone surrogate through an attribute.
        Assert.Equal(@"lone \ud800 half", SafeText.Quote("lone " + (char)0xD800 + " half"));
        Assert.Equal(@"\udc00x", SafeText.Quote((char)0xDC00 + "x"));
        Assert.Equal("🙂", SafeText.Quote("\ud83d\ude42"));
    }

    [Fact]
    public void Long_values_are_cut_with_an_ellipsis_and_their_full_length()
    {
        string quoted = SafeText.Quote(new string('x', 10_000), 20);
        Assert.Equal(new string('x', 20) + "… (10,000 chars)", quoted);
        // Escapes count toward the bound, so a value of control characters cannot grow past it either.
        Assert.True(SafeText.Quote(new string('\u001b', 10_000), 20).Length < 45);
    }

    [Fact]
    public void Line_keeps_backslashes_so_quoted_values_are_not_escaped_twice()
    {
        string message = $"tensor '{SafeText.Quote("a\u001bb")}' is bad\nsecond line";
        Assert.Equal(@"tensor 'a\x1bb' is bad\nsecond line", SafeText.Line(message));
    }
}
