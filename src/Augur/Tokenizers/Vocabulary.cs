using Augur.Gguf;

namespace Augur.Tokenizers;

/// <summary>SentencePiece piece types; GGUF's <c>tokenizer.ggml.token_type</c> uses the same numbers.</summary>
public enum TokenType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/// <summary>
/// A SentencePiece-style vocabulary: pieces (with U+2581 for a space), merge scores and types, and the
/// special ids. Read from GGUF metadata, a SentencePiece <c>.model</c>, or a llama2.c <c>tokenizer.bin</c>.
/// </summary>
public sealed record Vocabulary(
    string[] Tokens, float[] Scores, TokenType[] Types,
    int BosId, int EosId, int UnknownId,
    bool AddBos, bool AddEos, bool AddSpacePrefix)
{
    public int Count => Tokens.Length;

    /// <summary>UTF-8 bytes of the longest token text: no token stands for more bytes of input than this.</summary>
    public int LongestPieceBytes { get; } = Tokens.Length == 0 ? 1 : Math.Max(1, Tokens.Max(t => System.Text.Encoding.UTF8.GetByteCount(t)));

    /// <summary>A lower bound on the tokens <paramref name="text"/> encodes to, from its length alone (no tokenizing).</summary>
    public long FewestTokens(string text)
    {
        int longest = LongestPieceBytes;
        return (System.Text.Encoding.UTF8.GetByteCount(text) + longest - 1) / longest;
    }

    /// <summary>Writes this vocabulary as GGUF <c>tokenizer.ggml.*</c> metadata, the way llama.cpp's converter does.</summary>
    public void WriteTo(GgufWriter w)
    {
        w.Set("tokenizer.ggml.model", GgufValue.Of("llama"));
        w.Set("tokenizer.ggml.tokens", GgufValue.Of(Tokens));
        w.Set("tokenizer.ggml.scores", GgufValue.Of(Scores));
        w.Set("tokenizer.ggml.token_type", GgufValue.Of(Types.Select(t => (int)t).ToArray()));
        w.Set("tokenizer.ggml.bos_token_id", GgufValue.Of((uint)BosId));
        w.Set("tokenizer.ggml.eos_token_id", GgufValue.Of((uint)EosId));
        w.Set("tokenizer.ggml.unknown_token_id", GgufValue.Of((uint)UnknownId));
        w.Set("tokenizer.ggml.add_bos_token", GgufValue.Of(AddBos));
        w.Set("tokenizer.ggml.add_eos_token", GgufValue.Of(AddEos));
    }

    public static Vocabulary FromGguf(GgufFile f)
    {
        string model = f.Find("tokenizer.ggml.model")?.Value as string
            ?? throw new ModelFormatException($"{f.Path}: no tokenizer in this file (metadata 'tokenizer.ggml.model' is missing)");
        if (model != "llama")
            throw new ModelFormatException($"{f.Path}: tokenizer.ggml.model = '{SafeText.Quote(model)}' is not supported (supported: llama)");
        var tokens = f.TryGetArray<string>("tokenizer.ggml.tokens")
            ?? throw new ModelFormatException($"{f.Path}: metadata 'tokenizer.ggml.tokens' is missing");
        var scores = f.TryGetArray<float>("tokenizer.ggml.scores") ?? new float[tokens.Length];
        var types = f.TryGetArray<int>("tokenizer.ggml.token_type")?.Select(t => (TokenType)t).ToArray()
            ?? Enumerable.Repeat(TokenType.Normal, tokens.Length).ToArray();
        if (scores.Length != tokens.Length || types.Length != tokens.Length)
            throw new ModelFormatException($"{f.Path}: tokenizer arrays disagree ({tokens.Length} tokens, {scores.Length} scores, {types.Length} types)");
        int Id(string key, int fallback)
        {
            long id = f.TryGetInt(key) ?? fallback;
            if (id < -1 || id >= tokens.Length) throw new ModelFormatException($"{f.Path}: metadata '{SafeText.Quote(key)}' = {id} is outside the vocabulary of {tokens.Length}");
            return (int)id;
        }
        bool Flag(string key, bool fallback) => f.Find(key)?.Value is bool b ? b : fallback;
        return new Vocabulary(tokens, scores, types,
            Id("tokenizer.ggml.bos_token_id", 1), Id("tokenizer.ggml.eos_token_id", 2), Id("tokenizer.ggml.unknown_token_id", 0),
            Flag("tokenizer.ggml.add_bos_token", true), Flag("tokenizer.ggml.add_eos_token", false),
            Flag("tokenizer.ggml.add_space_prefix", true));
    }

    /// <summary>Reads a SentencePiece <c>.model</c> or a llama2.c <c>tokenizer.bin</c>, chosen by content.</summary>
    public static Vocabulary FromFile(string path, int? expectedSize = null)
    {
        if (!File.Exists(path)) throw new AssetNotFoundException(path, "tokenizer file");
        byte[] bytes = File.ReadAllBytes(path);
        // A SentencePiece model starts with field 1 (pieces), wire type 2: tag byte 0x0A.
        return bytes.Length > 0 && bytes[0] == 0x0A
            ? SentencePieceModelFile.Read(path, bytes)
            : Llama2cTokenizerFile.Read(path, bytes, expectedSize ?? throw new ModelFormatException(
                $"{path}: a llama2.c tokenizer.bin does not store its vocabulary size; it must come with a checkpoint"));
    }
}
