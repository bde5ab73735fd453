using System.Text.Json;

namespace Augur.Tests.Tokenizers;

/// <summary>
/// Llama 3, Qwen 3 and Gemma 3 through GGUFs made by <c>augur convert --from hf-tokenizer</c>, against the shared
/// vectors (ids from an HF-faithful tokenizer, cross-checked with Hugging Face's Rust library): every case exact.
/// </summary>
public class TokenizerVectorTests
{
    public static IEnumerable<object[]> Vocabularies => ConvertedVocabularies.Names.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Every_shared_case_encodes_and_decodes_exactly(string name)
    {
        var tok = ConvertedVocabularies.Tokenizer(name);
        var failures = new List<string>();
        var cases = ConvertedVocabularies.Cases(name);
        Assert.Equal(147, cases.Length);
        foreach (var c in cases)
        {
            // The vectors match added tokens written in the text (Hugging Face's default, llama.cpp's parse_special).
            var ids = tok.Encode(c.Text, addBos: false, parseSpecial: true);
            var withSpecial = tok.Encode(c.Text, addBos: true, parseSpecial: true);
            string decoded = tok.Decode(c.Ids, renderSpecial: true);
            string text = JsonSerializer.Serialize(c.Text);
            if (!ids.SequenceEqual(c.Ids)) failures.Add($"{c.Category} {text}: ids [{string.Join(' ', ids)}], expected [{string.Join(' ', c.Ids)}]");
            if (!withSpecial.SequenceEqual(c.IdsWithSpecial)) failures.Add($"{c.Category} {text}: ids with specials [{string.Join(' ', withSpecial)}], expected [{string.Join(' ', c.IdsWithSpecial)}]");
            if (decoded != c.Decoded) failures.Add($"{c.Category} {text}: decoded {JsonSerializer.Serialize(decoded)}, expected {JsonSerializer.Serialize(c.Decoded)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches:\n{string.Join('\n', failures.Take(15))}");
    }

    [Fact]
    public void Llama3_decodes_with_its_space_clean_up_as_Hugging_Face_does()
    {
        var tok = ConvertedVocabularies.Tokenizer("llama3");
        int checkedCases = 0;
        foreach (var c in ConvertedVocabularies.Cases("llama3"))
        {
            if (c.Text.Contains("<|")) continue; // the clean-up runs on text; these decode with control tokens rendered
            Assert.Equal(c.DecodedCleanup ?? c.Decoded, tok.DecodeCleaned(c.Ids));
            if (c.DecodedCleanup is not null) checkedCases++;
        }
        Assert.Equal(2, checkedCases);
        // Qwen's vocabulary does not ask for it.
        var qwen = ConvertedVocabularies.Tokenizer("qwen3");
        Assert.Equal("Hello , world .", qwen.DecodeCleaned(qwen.Encode("Hello , world .", addBos: false)));
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Streaming_never_emits_a_broken_character(string name)
    {
        var tok = ConvertedVocabularies.Tokenizer(name);
        foreach (var c in ConvertedVocabularies.Cases(name))
        {
            var ids = tok.Encode(c.Text, addBos: false);
            var detok = new Augur.Tokenizers.StreamingDetokenizer(tok);
            var sb = new System.Text.StringBuilder();
            foreach (int id in ids)
            {
                string chunk = detok.Push(id);
                Assert.DoesNotContain('\uFFFD', chunk);
                // A chunk ends on a whole character: never a lone high surrogate.
                Assert.False(chunk.Length > 0 && char.IsHighSurrogate(chunk[^1]), $"{name}: chunk ends inside a surrogate pair");
                sb.Append(chunk);
            }
            sb.Append(detok.Flush());
            Assert.Equal(tok.Decode(ids), sb.ToString());
        }
    }
}
