using System.Text;
using System.Text.RegularExpressions;
using Augur.Tokenizers;

namespace Augur.Tests.Tokenizers;

/// <summary>
/// Every pre-tokenizer against .NET's backtracking regex engine running llama.cpp's regexes (the Hugging Face files'
/// regexes for llama-bpe and qwen2), pass by pass, matches and the text between them kept as pieces, on seeded random
/// strings. .NET's regex sees UTF-16 code units, so the strings stay in the Basic Multilingual Plane.
/// </summary>
public class PreTokenizerTests
{
    const string Llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    // llama.cpp's default: its GPT-2 pass has no final \s+ (a lone space is then left between matches, the same piece).
    const string Gpt2NoTrailing = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    public static IEnumerable<object[]> Cases =>
    [
        ["llama-bpe", new[] { Llama3 }],
        ["qwen2", new[] { Qwen2 }],
        ["gpt-2", new[] { Gpt2 }],
        ["smollm", new[] { @"\p{N}", Gpt2 }],
        ["default", new[] { @"[\p{P}\$\+<=>\^~\|]+", Gpt2NoTrailing, @"\p{N}+", "[0-9][0-9][0-9]" }],
    ];

    static readonly string Pool =
        "aeiouAEIOUxyzstmdlrvSTMDLRVE   \t\n\r\r\n\u00a0\u3000\u2028\u0085\u200b0123456789\u0663\uff13\u00b2\u216b" +
        "'''\u2019.,;:!?-_()[]{}<>|$+=^~@#%&*/\\\"\u00bf\u201c\u201d\u2026\u00e9\u00df\u0436\u65e5\u3131\u0301\u263a\u00a9";

    [Theory]
    [MemberData(nameof(Cases))]
    public void Splits_exactly_as_the_regexes(string name, string[] regexes)
    {
        var pre = PreTokenizer.For(name, "test");
        var compiled = regexes.Select(r => new Regex(r, RegexOptions.CultureInvariant)).ToArray();
        var random = new Random(42);
        var text = new PreTokenizer.Text();
        var words = new List<(int, int)>();
        for (int n = 0; n < 3000; n++)
        {
            var sb = new StringBuilder();
            int length = random.Next(0, 30);
            for (int i = 0; i < length; i++) sb.Append(Pool[random.Next(Pool.Length)]);
            string s = sb.ToString();

            List<string> expected = s.Length == 0 ? [] : [s];
            foreach (var regex in compiled)
                expected = [.. expected.SelectMany(piece => Isolate(regex, piece))];

            text.Set(s);
            pre.Split(text, words);
            var actual = words.Select(w => string.Concat(Enumerable.Range(w.Item1, w.Item2 - w.Item1).Select(i => char.ConvertFromUtf32(text.Codepoints[i])))).ToList();
            Assert.True(expected.SequenceEqual(actual),
                $"{name} {System.Text.Json.JsonSerializer.Serialize(s)}: regex [{string.Join("|", expected.Select(Show))}], Augur [{string.Join("|", actual.Select(Show))}]");
        }
    }

    static string Show(string piece) => System.Text.Json.JsonSerializer.Serialize(piece);

    /// <summary>The matches of <paramref name="regex"/> in <paramref name="piece"/> and the text between them, in order.</summary>
    static IEnumerable<string> Isolate(Regex regex, string piece)
    {
        int pos = 0;
        foreach (Match m in regex.Matches(piece))
        {
            if (m.Length == 0) continue;
            if (m.Index > pos) yield return piece[pos..m.Index];
            yield return m.Value;
            pos = m.Index + m.Length;
        }
        if (pos < piece.Length) yield return piece[pos..];
    }
}
