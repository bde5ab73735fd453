using System.Text;
using Augur.Tokenizers;
using CsCheck;

namespace Augur.Tests.Tokenizers;

/// <summary>The streaming detokenizer never emits half a character: chunks are always whole UTF-16 text.</summary>
public class StreamingDetokenizerTests
{
    static readonly SentencePieceTokenizer Tok = Vocabularies.Tok512Tokenizer;

    static int ByteToken(byte b) => 3 + b;

    static void AssertWhole(string chunk)
    {
        Assert.DoesNotContain('\uFFFD', chunk);
        for (int i = 0; i < chunk.Length; i++)
            if (char.IsSurrogate(chunk[i])) Assert.True(char.IsSurrogatePair(chunk, char.IsHighSurrogate(chunk[i]) ? i : i - 1), $"broken surrogate in \"{chunk}\"");
    }

    [Fact]
    public void An_emoji_fed_byte_token_by_byte_token_appears_only_when_complete()
    {
        var detok = new StreamingDetokenizer(Tok);
        var chunks = Encoding.UTF8.GetBytes("😀").Select(b => detok.Push(ByteToken(b))).ToList();
        chunks.Add(detok.Flush());
        Assert.Equal(["", "", "", "😀", ""], chunks);
    }

    [Fact]
    public void Streaming_random_text_gives_whole_chunks_that_concatenate_to_the_text() =>
        SentencePieceTokenizerTests.Text.Sample(s =>
        {
            var ids = Tok.Encode(s);
            var detok = new StreamingDetokenizer(Tok);
            var all = new StringBuilder();
            foreach (int id in ids)
            {
                string chunk = detok.Push(id);
                AssertWhole(chunk);
                all.Append(chunk);
            }
            all.Append(detok.Flush());
            Assert.Equal(s, all.ToString());
        }, iter: 500);

    [Fact]
    public void Starting_after_a_prompt_drops_the_dummy_space_only_when_the_prompt_ended_in_BOS()
    {
        var ids = Tok.Encode("The cat");
        Assert.Equal("The", new StreamingDetokenizer(Tok, previous: Tok.BosId).Push(ids[1]));
        string second = Tok.Vocabulary.Tokens[ids[2]].Replace('\u2581', ' ');
        Assert.StartsWith(" ", second);
        Assert.Equal(second, new StreamingDetokenizer(Tok, previous: ids[1]).Push(ids[2]));
    }

    [Fact]
    public void An_unfinished_character_at_the_end_becomes_one_replacement_character_at_Flush()
    {
        var detok = new StreamingDetokenizer(Tok);
        Assert.Equal("", detok.Push(ByteToken(0xF0)));
        Assert.Equal("", detok.Push(ByteToken(0x9F)));
        Assert.Equal("\uFFFD", detok.Flush());
    }

    [Fact]
    public void Invalid_bytes_become_replacement_characters_and_the_text_after_them_survives()
    {
        var detok = new StreamingDetokenizer(Tok, previous: 0);
        var text = new StringBuilder();
        text.Append(detok.Push(ByteToken(0x80)));              // a continuation byte with no lead
        text.Append(detok.Push(ByteToken(0xC3)));              // a lead byte ...
        foreach (int id in Tok.Encode("cat", addBos: false)) text.Append(detok.Push(id)); // ... followed by ASCII
        text.Append(detok.Flush());
        Assert.Equal("\uFFFD\uFFFD cat", text.ToString());
    }
}
