using Augur.Tokenizers;

namespace Augur.Tests.Tokenizers;

/// <summary>Augur's NFC against known answers from the Unicode standard's examples (UAX #15) and Hangul composition.</summary>
public class NfcTests
{
    [Theory]
    [InlineData("e\u0301", "\u00e9")]                   // e + acute → é
    [InlineData("A\u030a", "\u00c5")]                   // A + ring → Å
    [InlineData("\u212b", "\u00c5")]                    // ANGSTROM SIGN → Å (singleton)
    [InlineData("\u1e0b\u0323", "\u1e0d\u0307")]        // ḋ + dot below → ḍ + dot above (reordering, then composition)
    [InlineData("q\u0307\u0323", "q\u0323\u0307")]      // no composite: only reordered
    [InlineData("\u1100\u1161\u11a8", "\uac01")]        // Hangul L V T → 각
    [InlineData("\u0958", "\u0915\u093c")]              // composition exclusion stays decomposed
    [InlineData("a\u0301\u0301", "\u00e1\u0301")]       // second acute is blocked by nothing but has no composite with á
    [InlineData("plain ascii", "plain ascii")]
    public void Normalizes_to_NFC(string input, string expected) => Assert.Equal(expected, Nfc.Normalize(input));
}
