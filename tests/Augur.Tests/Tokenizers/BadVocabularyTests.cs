using Augur.Gguf;
using Augur.Tests.Support;
using Augur.Tokenizers;

namespace Augur.Tests.Tokenizers;

/// <summary>Malformed gpt2 vocabularies in GGUF files: each is one <see cref="ModelFormatException"/> naming the problem.</summary>
public sealed class BadVocabularyTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>A small valid byte-level vocabulary: the 256 byte pieces, "ab" and one merge.</summary>
    static Dictionary<string, GgufValue> Valid()
    {
        var tokens = Enumerable.Range(0, 256).Select(b => ((char)(b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE ? b : 0)).ToString()).ToList();
        // Give the unprintable bytes their GPT-2 characters (U+0100 …) in order.
        int extra = 0;
        for (int b = 0; b < 256; b++) if (tokens[b] == "\0") tokens[b] = ((char)(256 + extra++)).ToString();
        tokens.Add("ab");
        return new()
        {
            ["tokenizer.ggml.model"] = GgufValue.Of("gpt2"),
            ["tokenizer.ggml.pre"] = GgufValue.Of("llama-bpe"),
            ["tokenizer.ggml.tokens"] = GgufValue.Of(tokens.ToArray()),
            ["tokenizer.ggml.token_type"] = GgufValue.Of(Enumerable.Repeat(1, tokens.Count).ToArray()),
            ["tokenizer.ggml.merges"] = GgufValue.Of(new[] { "a b" }),
        };
    }

    ITokenizer Load(Dictionary<string, GgufValue> keys)
    {
        var w = new GgufWriter();
        foreach (var (k, v) in keys) w.Set(k, v);
        string path = _dir.File($"v{keys.GetHashCode()}.gguf");
        w.Write(path);
        using var f = GgufFile.Open(path);
        return TokenizerFactory.Create(Vocabulary.FromGguf(f));
    }

    [Fact]
    public void The_valid_vocabulary_loads_and_merges() => Assert.Equal([256], Load(Valid()).Encode("ab", addBos: false));

    [Theory]
    [InlineData("merges", "names 'zz'")]
    [InlineData("type", "token_type[3] = 9")]
    [InlineData("no-pre", "tokenizer.ggml.pre")]
    [InlineData("unknown-pre", "'nonsense' is not supported")]
    [InlineData("empty", "is empty")]
    [InlineData("model", "'bert' is not supported")]
    public void A_malformed_vocabulary_is_one_clear_error(string fault, string expected)
    {
        var keys = Valid();
        switch (fault)
        {
            case "merges": keys["tokenizer.ggml.merges"] = GgufValue.Of(new[] { "a b", "a zz" }); break;
            case "type": keys["tokenizer.ggml.token_type"] = GgufValue.Of(Enumerable.Repeat(1, 257).Select((t, i) => i == 3 ? 9 : t).ToArray()); break;
            case "no-pre": keys.Remove("tokenizer.ggml.pre"); break;
            case "unknown-pre": keys["tokenizer.ggml.pre"] = GgufValue.Of("nonsense"); break;
            case "empty": keys["tokenizer.ggml.tokens"] = GgufValue.Of(Array.Empty<string>()); keys["tokenizer.ggml.token_type"] = GgufValue.Of(Array.Empty<int>()); break;
            case "model": keys["tokenizer.ggml.model"] = GgufValue.Of("bert"); break;
        }
        var e = Assert.Throws<ModelFormatException>(() => Load(keys));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Invalid_UTF8_in_a_piece_is_an_error_naming_the_key()
    {
        string path = _dir.File("utf8.gguf");
        var w = new GgufWriter();
        foreach (var (k, v) in Valid()) w.Set(k, v);
        w.Write(path);
        // Corrupt the piece "ab" (the only two-byte ASCII piece in the file) into an invalid UTF-8 sequence.
        var bytes = File.ReadAllBytes(path);
        int at = bytes.AsSpan().IndexOf("\u0002\0\0\0\0\0\0\0ab"u8) + 8;
        bytes[at] = 0xC3; bytes[at + 1] = 0x28;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Contains("'tokenizer.ggml.tokens'", e.Message);
        Assert.Contains("not valid UTF-8", e.Message);
    }
}
