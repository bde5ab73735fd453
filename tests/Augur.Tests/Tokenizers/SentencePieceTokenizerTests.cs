using Augur.Tests.Support;
using Augur.Tokenizers;
using CsCheck;

namespace Augur.Tests.Tokenizers;

/// <summary>
/// Encoding and decoding with the stories260K and Llama 2 vocabularies: the run.c reference ids validate an
/// independent O(n²) BPE (<see cref="ReferenceBpe"/>), which then checks the engine's heap-based BPE on random text.
/// </summary>
public class SentencePieceTokenizerTests
{
    /// <summary>Text from pieces that stress a tokenizer: runs of spaces, tabs, newlines, multi-byte and astral
    /// characters, a skin-tone sequence, tok512's hair-space piece, and any Unicode scalar value (U+FFFD excluded,
    /// so a replacement character in the output always means a broken one).</summary>
    public static readonly Gen<string> Text = Gen.OneOf<string>(
            Gen.OneOf("a", "b", "the", "Once", " ", "  ", "    ", "\n", "\t", "é", "ï", "ü", "😀", "👍🏽", "日本", "\u200A", "."),
            // Not U+2581: SentencePiece writes spaces as that character, so a literal one decodes as a space (as in
            // SentencePiece and llama.cpp) and round trips cannot hold for it.
            Gen.Int[0, 0x10FFFF].Where(c => c is (< 0xD800 or > 0xDFFF) and not 0xFFFD and not 0x2581).Select(char.ConvertFromUtf32))
        .Array[0, 24].Select(string.Concat);

    [Theory]
    [MemberData(nameof(Reference.CaseIds), MemberType = typeof(Reference))]
    // Validates the oracle itself: it must reproduce run.c's ids before it may judge the engine.
    public void The_reference_BPE_reproduces_run_c_prompt_ids(string caseId)
    {
        var c = Reference.Get(caseId);
        Assert.Equal(c.PromptIds, ReferenceBpe.Encode(Vocabularies.Tok512, c.Prompt));
    }

    [Fact]
    public void Decode_of_encode_is_the_identity_with_the_stories260K_vocabulary() =>
        Text.Sample(s => Assert.Equal(s, Vocabularies.Tok512Tokenizer.Decode(Vocabularies.Tok512Tokenizer.Encode(s))), iter: 500);

    [Fact]
    public void Decode_of_encode_is_the_identity_with_the_Llama2_vocabulary() =>
        Text.Sample(s => Assert.Equal(s, Vocabularies.Llama2Tokenizer.Decode(Vocabularies.Llama2Tokenizer.Encode(s))), iter: 500);

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("  leading and trailing  ")]
    [InlineData("\n\n\t")]
    [InlineData("naïve 😀 über")]
    public void Decode_drops_only_the_dummy_prefix_space_after_BOS(string s)
    {
        var tok = Vocabularies.Tok512Tokenizer;
        var ids = tok.Encode(s);
        Assert.Equal(tok.BosId, ids[0]);
        Assert.Equal(s, tok.Decode(ids));
        // Without BOS in front the dummy space is part of the text.
        Assert.Equal(s.Length == 0 ? "" : " " + s, tok.Decode(ids.AsSpan(1)));
    }

    [Fact]
    public void Encode_without_BOS_omits_it() =>
        Assert.Equal(Vocabularies.Tok512Tokenizer.Encode("The cat")[1..], Vocabularies.Tok512Tokenizer.Encode("The cat", addBos: false));

    [Fact]
    public void The_engine_BPE_equals_the_reference_BPE_on_random_text_with_the_Llama2_vocabulary()
    {
        // A small alphabet makes repeated letters, equal-score ties and space runs (scored −1e9) common.
        var text = Gen.OneOf("a", "b", "e", "r", "t", "h", "n", " ", "  ", "é", "日", "😀").Array[0, 40].Select(string.Concat);
        var tok = Vocabularies.Llama2Tokenizer;
        text.Sample(s => Assert.Equal(ReferenceBpe.Encode(Vocabularies.Llama2, s), tok.Encode(s)), iter: 300);
    }

    [Fact]
    public void The_engine_BPE_equals_the_reference_BPE_on_random_text_with_the_stories260K_vocabulary() =>
        Text.Sample(s => Assert.Equal(ReferenceBpe.Encode(Vocabularies.Tok512, s), Vocabularies.Tok512Tokenizer.Encode(s)), iter: 300);

    [Fact]
    // BPE merges any adjacent pair that forms a piece, so when it stops no two neighbouring symbols do.
    public void No_two_adjacent_output_pieces_concatenate_to_a_piece()
    {
        var v = Vocabularies.Llama2;
        var pieces = v.Tokens.ToHashSet(StringComparer.Ordinal);
        Text.Sample(s =>
        {
            var ids = Vocabularies.Llama2Tokenizer.Encode(s, addBos: false);
            for (int i = 0; i + 1 < ids.Length; i++)
                if (v.Types[ids[i]] == TokenType.Normal && v.Types[ids[i + 1]] == TokenType.Normal)
                    Assert.DoesNotContain(v.Tokens[ids[i]] + v.Tokens[ids[i + 1]], pieces);
        }, iter: 300);
    }

    static int Id(string piece) => Array.IndexOf(Vocabularies.Llama2.Tokens, piece);

    [Fact]
    // "  " becomes ▁▁▁ (dummy prefix + two spaces). The only pieces are the space runs, all scored −1e9: the
    // leftmost ▁▁ merges first (tie), then ▁▁+▁ forms ▁▁▁, itself a piece.
    public void Two_spaces_become_the_three_space_piece()
    {
        Assert.Equal(-1e9f, Vocabularies.Llama2.Scores[Id("\u2581\u2581\u2581")]);
        Assert.Equal([1, Id("\u2581\u2581\u2581")], Vocabularies.Llama2Tokenizer.Encode("  "));
    }

    [Fact]
    // " a" becomes ▁▁a: ▁a outscores ▁▁ (−1e9), so it merges first; ▁▁a is not a piece, so ▁ stays alone.
    public void A_leading_space_stays_a_lone_space_piece_because_space_pieces_merge_last()
    {
        var v = Vocabularies.Llama2;
        Assert.True(v.Scores[Id("\u2581a")] > v.Scores[Id("\u2581\u2581")]);
        Assert.Equal(-1, Id("\u2581\u2581a"));
        Assert.Equal([1, 29871, Id("\u2581a")], Vocabularies.Llama2Tokenizer.Encode(" a"));
    }

    [Fact]
    // 𝔘 (U+1D518) is not a piece, so each of its four UTF-8 bytes becomes the byte token 3 + byte.
    public void A_character_outside_the_vocabulary_falls_back_to_its_UTF8_bytes()
    {
        Assert.Equal(-1, Id("𝔘"));
        Assert.Equal([1, 29871, 3 + 0xF0, 3 + 0x9D, 3 + 0x94, 3 + 0x98], Vocabularies.Llama2Tokenizer.Encode("𝔘"));
    }

    [Fact]
    public void A_common_word_that_is_a_piece_encodes_to_that_piece()
    {
        var ids = Vocabularies.Llama2Tokenizer.Encode("Hello world");
        Assert.Equal(["<s>", "\u2581Hello", "\u2581world"], ids.Select(i => Vocabularies.Llama2.Tokens[i]));
    }
}
