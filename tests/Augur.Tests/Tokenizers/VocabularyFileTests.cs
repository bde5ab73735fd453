using Augur.Tests.Support;
using Augur.Tokenizers;
using CsCheck;

namespace Augur.Tests.Tokenizers;

/// <summary>The three readers of a vocabulary (SentencePiece .model, llama2.c tokenizer.bin, GGUF metadata) on independent files.</summary>
public sealed class VocabularyFileTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_model_file_the_tokenizer_bin_and_the_gguf_hold_the_same_vocabulary()
    {
        var model = Vocabularies.Tok512;
        var bin = Vocabulary.FromFile(Reference.Tok512Bin, 512);
        var gguf = Vocabularies.FromGguf(Reference.Stories260KGguf);
        foreach (var other in new[] { bin, gguf })
        {
            Assert.Equal(model.Tokens, other.Tokens);
            Assert.Equal(model.Scores, other.Scores);
            Assert.Equal(model.Types, other.Types);
            Assert.Equal((model.BosId, model.EosId, model.UnknownId), (other.BosId, other.EosId, other.UnknownId));
            Assert.Equal((model.AddBos, model.AddEos, model.AddSpacePrefix), (other.AddBos, other.AddEos, other.AddSpacePrefix));
        }
    }

    [Theory]
    [InlineData("tok512.model", 512, 253, 0f)]
    [InlineData("llama2-tokenizer.model", 32000, 31741, -1e9f)]
    // ../shared/models/README.md: <unk>, <s>, </s>, 256 byte pieces, then normal pieces scored −(id − 259)
    // (Llama 2's all-space pieces excepted, at −1e9).
    public void The_model_files_match_their_documented_layout(string file, int count, int normal, float spaceScore)
    {
        var v = file == "tok512.model" ? Vocabularies.Tok512 : Vocabularies.Llama2;
        Assert.Equal(count, v.Count);
        Assert.Equal(("<unk>", TokenType.Unknown), (v.Tokens[0], v.Types[0]));
        Assert.Equal(("<s>", TokenType.Control), (v.Tokens[1], v.Types[1]));
        Assert.Equal(("</s>", TokenType.Control), (v.Tokens[2], v.Types[2]));
        Assert.Equal((1, 2, 0), (v.BosId, v.EosId, v.UnknownId));
        for (int b = 0; b < 256; b++) Assert.Equal(($"<0x{b:X2}>", TokenType.Byte, 0f), (v.Tokens[3 + b], v.Types[3 + b], v.Scores[3 + b]));
        Assert.Equal(normal, v.Types.Count(t => t == TokenType.Normal));
        for (int i = 259; i < count; i++)
        {
            bool allSpaces = v.Tokens[i].All(c => c == '\u2581');
            Assert.Equal(allSpaces && spaceScore != 0 ? spaceScore : -(i - 259), v.Scores[i]);
        }
        Assert.True(v.AddSpacePrefix);
    }

    [Fact]
    public void Llama2s_space_pieces_are_the_documented_ids()
    {
        var v = Vocabularies.Llama2;
        Assert.Equal("\u2581", v.Tokens[29871]);
        Assert.Equal("\u2581\u2581", v.Tokens[259]);
        Assert.Equal("\u2581\u2581\u2581\u2581", v.Tokens[268]);
        Assert.Equal(16, v.Tokens.Count(t => t.Length > 0 && t.All(c => c == '\u2581')));
    }

    [Fact]
    public void A_missing_tokenizer_raises_AssetNotFoundException() =>
        Assert.Throws<AssetNotFoundException>(() => Vocabulary.FromFile(_dir.File("absent.model")));

    [Theory]
    [InlineData("tok512.model", 3000)]
    [InlineData("tok512.bin", 3000)]
    [InlineData("tok512.bin", 2)]
    public void A_truncated_tokenizer_file_raises_ModelFormatException_naming_it(string file, int length)
    {
        string path = _dir.Write(file, File.ReadAllBytes(SharedAssets.Model(file))[..length]);
        var e = Assert.Throws<ModelFormatException>(() => Vocabulary.FromFile(path, 512));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_tokenizer_bin_without_its_checkpoint_cannot_know_its_size()
    {
        var e = Assert.Throws<ModelFormatException>(() => Vocabulary.FromFile(Reference.Tok512Bin));
        Assert.Contains("vocabulary size", e.Message);
    }

    [Theory]
    [InlineData("tok512.model")]
    [InlineData("tok512.bin")]
    // Whatever bytes are changed, reading the vocabulary and building a tokenizer from it either works or raises
    // ModelFormatException naming the file.
    public void Random_byte_changes_yield_a_tokenizer_or_a_ModelFormatException(string file)
    {
        var valid = File.ReadAllBytes(SharedAssets.Model(file));
        string path = _dir.File("fuzz-" + file);
        Gen.Select(Gen.Int[0, valid.Length - 1], Gen.Byte, Gen.Int[0, valid.Length - 1], Gen.Byte).Sample((i, v, j, u) =>
        {
            var bytes = (byte[])valid.Clone();
            bytes[i] = v;
            bytes[j] = u;
            File.WriteAllBytes(path, bytes);
            try { _ = new SentencePieceTokenizer(Vocabulary.FromFile(path, 512)); }
            catch (ModelFormatException e) { Assert.Contains(path, e.Message); }
        }, iter: 1000, threads: 1);
    }
}
