using System.Diagnostics;
using System.Text;
using Augur.Tokenizers;
using Xunit.Abstractions;

namespace Augur.Tests.Tokenizers;

/// <summary>
/// Properties of the converted Llama 3, Qwen 3 and Gemma 3 tokenizers on seeded random text (the seed is printed):
/// decoding gives the text back, ids stay in the vocabulary, control text is never a control token unless asked,
/// and the time to tokenize grows linearly with the length of the worst inputs.
/// </summary>
[Collection(TimingTests.Name)]
public class TokenizerPropertyTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Vocabularies => ConvertedVocabularies.Names.Select(n => new object[] { n });

    /// <summary>Code point ranges mixed in the random strings: ASCII, whitespace, Latin, combining marks, Cyrillic,
    /// Arabic, Devanagari, CJK, Hangul, emoji and their modifiers, rare planes (byte fallback).</summary>
    static readonly (int From, int To)[] Ranges =
    [
        (0x20, 0x7E), (0x20, 0x7E), (0x09, 0x0D), (0xA0, 0x17F), (0x300, 0x36F), (0x400, 0x4FF), (0x600, 0x6FF),
        (0x900, 0x97F), (0x2000, 0x206F), (0x3000, 0x303F), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1F6FF),
        (0x1F3FB, 0x1F3FF), (0xFE00, 0xFE0F), (0x10000, 0x1FFFF), (0xE000, 0xF8FF),
    ];

    static string RandomText(Random random)
    {
        var sb = new StringBuilder();
        int length = random.Next(0, 24);
        for (int i = 0; i < length; i++)
        {
            var (from, to) = Ranges[random.Next(Ranges.Length)];
            int c = random.Next(from, to + 1);
            // Not U+2581: SentencePiece writes spaces as it, so a literal one decodes as a space (Gemma's documented case).
            if (c == 0x2581) c = 'x';
            sb.Append(char.ConvertFromUtf32(c));
        }
        return sb.ToString();
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Decode_of_encode_gives_the_text_back_and_ids_stay_in_the_vocabulary(string name)
    {
        const int seed = 20261204, count = 10_000;
        output.WriteLine($"seed {seed}, {count} strings");
        var tok = ConvertedVocabularies.Tokenizer(name);
        var random = new Random(seed);
        bool nfc = tok is ByteLevelBpeTokenizer { PreTokenizer.NormalizesNfc: true };
        for (int n = 0; n < count; n++)
        {
            string text = RandomText(random);
            var ids = tok.Encode(text, addBos: false);
            Assert.All(ids, id => Assert.InRange(id, 0, tok.Vocabulary.Count - 1));
            // Qwen's tokenizer NFC-normalises its input (documented), so the round trip gives the NFC form.
            string expected = nfc ? Nfc.Normalize(text) : text;
            string decoded = tok.Decode(ids);
            if (decoded != expected) Assert.Fail($"string {n} (seed {seed}): {System.Text.Json.JsonSerializer.Serialize(text)} decodes to {System.Text.Json.JsonSerializer.Serialize(decoded)}");
        }
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Control_token_text_is_never_a_control_token_with_special_off(string name)
    {
        var tok = ConvertedVocabularies.Tokenizer(name);
        var v = tok.Vocabulary;
        var random = new Random(7);
        for (int id = 0; id < v.Count; id++)
        {
            if (v.Types[id] != TokenType.Control) continue;
            string text = RandomText(random) + v.Tokens[id] + RandomText(random);
            var ids = tok.Encode(text, addBos: false);
            Assert.DoesNotContain(ids, t => v.Types[t] == TokenType.Control);
            Assert.Contains(id, tok.Encode(v.Tokens[id], addBos: false, parseSpecial: true));
        }
    }

    public static IEnumerable<object[]> WorstInputs =>
        from name in (string[])["llama3", "qwen3", "gemma3"]
        from input in (string[])["no-space", "spaces", "digits", "emoji", "newlines"]
        select new object[] { name, input };

    /// <summary>The five inputs at full size (4n) and a quarter of it (n): linear time gives a ratio near 4,
    /// quadratic 16. The short one timed three times and the long one twice after a warm-up (the best kept: load only ever adds time), alone in its
    /// collection, and a bound of 12, so a loaded machine does not fail it.</summary>
    [Theory]
    [MemberData(nameof(WorstInputs))]
    public void Tokenizing_time_is_linear_in_the_length(string name, string input)
    {
        var tok = ConvertedVocabularies.Tokenizer(name);
        string Make(int scale) => input switch
        {
            "no-space" => NoSpace(1_000_000 / scale),
            "spaces" => new string(' ', 200_000 / scale),
            "digits" => new string('7', 200_000 / scale),
            "emoji" => string.Concat(Enumerable.Repeat("😀", 100_000 / scale)),
            _ => new string('\n', 100_000 / scale),
        };
        string small = Make(4), large = Make(1);
        double Time(string text, int runs)
        {
            double best = double.MaxValue;
            for (int i = 0; i < runs; i++)
            {
                var sw = Stopwatch.StartNew();
                tok.Encode(text, addBos: false);
                best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
                if (best > 500) break; // long enough that one timing is not noise
            }
            return best;
        }
        Time(small, 1); // warm up
        double n = Time(small, 3), n4 = Time(large, 3);
        output.WriteLine($"{name} {input}: n {n:F1} ms, 4n {n4:F1} ms, ratio {n4 / n:F1}");
        // Below some tens of milliseconds the timer and the collector dominate: the bound starts at 12 × 20 ms (a
        // quadratic tokenizer takes seconds on these inputs).
        Assert.True(n4 < 12 * Math.Max(n, 20), $"{name} {input}: 4n took {n4:F1} ms, n {n:F1} ms (ratio {n4 / n:F1}; linear is ~4, quadratic 16)");
    }

    /// <summary>
    /// Letters, digits and punctuation of several scripts, never a space: a 10,000-character random block repeated,
    /// so both lengths meet the same words (the byte-level word cache would otherwise favour the short one).
    /// </summary>
    static string NoSpace(int length)
    {
        const string pool = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789.,;-_()éüßжлм日本語中文";
        var random = new Random(3);
        var block = new char[10_000];
        for (int i = 0; i < block.Length; i++) block[i] = pool[random.Next(pool.Length)];
        var chars = new char[length];
        for (int i = 0; i < length; i++) chars[i] = block[i % block.Length];
        return new string(chars);
    }
}

/// <summary>Timing tests run with nothing else of this assembly beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingTests
{
    public const string Name = "timing";
}
