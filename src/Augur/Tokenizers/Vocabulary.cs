using Augur.Gguf;

namespace Augur.Tokenizers;

/// <summary>SentencePiece piece types; GGUF's <c>tokenizer.ggml.token_type</c> uses the same numbers.</summary>
public enum TokenType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/// <summary>
/// A vocabulary as GGUF stores it: pieces, scores (SentencePiece) or merges (byte-level BPE), types and the
/// special ids. <see cref="Model"/> is GGUF's <c>tokenizer.ggml.model</c> (<c>llama</c>: SentencePiece pieces
/// with U+2581 for a space; <c>gpt2</c>: byte-level pieces with <c>Ġ</c> for a space) and <see cref="Pre"/> its
/// <c>tokenizer.ggml.pre</c>. Read from GGUF metadata, a SentencePiece <c>.model</c> or a llama2.c <c>tokenizer.bin</c>.
/// </summary>
public sealed record Vocabulary(
    string[] Tokens, float[] Scores, TokenType[] Types,
    int BosId, int EosId, int UnknownId,
    bool AddBos, bool AddEos, bool AddSpacePrefix)
{
    public const string SentencePieceModel = "llama";
    public const string ByteLevelModel = "gpt2";

    public int Count => Tokens.Length;
    public string Model { get; init; } = SentencePieceModel;
    public string? Pre { get; init; }
    /// <summary>Byte-level BPE merges, highest priority first, each <c>"left right"</c>.</summary>
    public string[] Merges { get; init; } = [];
    public int EotId { get; init; } = -1;
    public int EomId { get; init; } = -1;
    public int PadId { get; init; } = -1;
    /// <summary>Where the vocabulary was read from, for error messages.</summary>
    public string Source { get; init; } = "vocabulary";

    /// <summary>
    /// The texts llama.cpp ends generation on whatever their ids (it finds them by text too, because many GGUFs
    /// name only one of them): EOT markers of the common chat formats. Plus Gemma's <c>&lt;eos&gt;</c>: a GGUF made from
    /// an instruction-tuned Gemma's configs names <c>&lt;end_of_turn&gt;</c> as EOS, and its generation config stops on both.
    /// </summary>
    static readonly HashSet<string> EndOfGenerationTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
        "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
    ];

    IReadOnlySet<int>? _endOfGeneration;

    /// <summary>Every token that ends generation: EOS, EOT, EOM and the tokens <see cref="EndOfGenerationTexts"/> names.</summary>
    public IReadOnlySet<int> EndOfGeneration => _endOfGeneration ??= FindEndOfGeneration();

    HashSet<int> FindEndOfGeneration()
    {
        var set = new HashSet<int>();
        foreach (int id in (int[])[EosId, EotId, EomId])
            if (id >= 0) set.Add(id);
        for (int i = 0; i < Tokens.Length; i++)
            if (Types[i] is not TokenType.Normal and not TokenType.Byte && EndOfGenerationTexts.Contains(Tokens[i])) set.Add(i);
        return set;
    }

    /// <summary>UTF-8 bytes of the longest token text: no token stands for more bytes of input than this.</summary>
    public int LongestPieceBytes { get; } = Tokens.Length == 0 ? 1 : Math.Max(1, Tokens.Max(t => System.Text.Encoding.UTF8.GetByteCount(t)));

    /// <summary>A lower bound on the tokens <paramref name="text"/> encodes to, from its length alone (no tokenizing).</summary>
    public long FewestTokens(string text)
    {
        int longest = LongestPieceBytes;
        return (System.Text.Encoding.UTF8.GetByteCount(text) + longest - 1) / longest;
    }

    /// <summary>Writes this vocabulary as GGUF <c>tokenizer.ggml.*</c> metadata, the keys llama.cpp's converter writes.</summary>
    public void WriteTo(GgufWriter w)
    {
        w.Set("tokenizer.ggml.model", GgufValue.Of(Model));
        if (Model == ByteLevelModel) w.Set("tokenizer.ggml.pre", GgufValue.Of(Pre ?? "default"));
        w.Set("tokenizer.ggml.tokens", GgufValue.Of(Tokens));
        if (Model == SentencePieceModel) w.Set("tokenizer.ggml.scores", GgufValue.Of(Scores));
        w.Set("tokenizer.ggml.token_type", GgufValue.Of(Types.Select(t => (int)t).ToArray()));
        if (Merges.Length > 0) w.Set("tokenizer.ggml.merges", GgufValue.Of(Merges));
        void Id(string key, int id) { if (id >= 0) w.Set(key, GgufValue.Of((uint)id)); }
        Id("tokenizer.ggml.bos_token_id", BosId);
        Id("tokenizer.ggml.eos_token_id", EosId);
        Id("tokenizer.ggml.unknown_token_id", UnknownId);
        Id("tokenizer.ggml.padding_token_id", PadId);
        Id("tokenizer.ggml.eot_token_id", EotId);
        Id("tokenizer.ggml.eom_token_id", EomId);
        w.Set("tokenizer.ggml.add_bos_token", GgufValue.Of(AddBos));
        w.Set("tokenizer.ggml.add_eos_token", GgufValue.Of(AddEos));
        if (Model == SentencePieceModel && !AddSpacePrefix) w.Set("tokenizer.ggml.add_space_prefix", GgufValue.Of(false));
    }

    public static Vocabulary FromGguf(GgufFile f)
    {
        string model = f.Find("tokenizer.ggml.model")?.Value as string
            ?? throw new ModelFormatException($"{f.Path}: no tokenizer in this file (metadata 'tokenizer.ggml.model' is missing)");
        if (!TokenizerFactory.Models.Contains(model))
            throw new ModelFormatException($"{f.Path}: tokenizer.ggml.model = '{SafeText.Quote(model)}' is not supported (supported: {string.Join(", ", TokenizerFactory.Models)})");
        var tokens = f.TryGetArray<string>("tokenizer.ggml.tokens")
            ?? throw new ModelFormatException($"{f.Path}: metadata 'tokenizer.ggml.tokens' is missing");
        if (tokens.Length == 0) throw new ModelFormatException($"{f.Path}: metadata 'tokenizer.ggml.tokens' is empty (a vocabulary needs at least one token)");
        var scores = f.TryGetArray<float>("tokenizer.ggml.scores") ?? new float[tokens.Length];
        var rawTypes = f.TryGetArray<int>("tokenizer.ggml.token_type") ?? Enumerable.Repeat((int)TokenType.Normal, tokens.Length).ToArray();
        if (scores.Length != tokens.Length || rawTypes.Length != tokens.Length)
            throw new ModelFormatException($"{f.Path}: tokenizer arrays disagree ({tokens.Length} tokens, {scores.Length} scores, {rawTypes.Length} types)");
        var types = new TokenType[tokens.Length];
        for (int i = 0; i < types.Length; i++)
        {
            if (rawTypes[i] is < (int)TokenType.Normal or > (int)TokenType.Byte)
                throw new ModelFormatException($"{f.Path}: tokenizer.ggml.token_type[{i}] = {rawTypes[i]} is not a token type (1 normal … 6 byte)");
            types[i] = (TokenType)rawTypes[i];
        }
        bool byteLevel = model == ByteLevelModel;
        string? pre = f.Find("tokenizer.ggml.pre")?.Value as string;
        string[] merges = f.TryGetArray<string>("tokenizer.ggml.merges") ?? [];
        if (byteLevel && pre is null)
            throw new ModelFormatException($"{f.Path}: a gpt2 vocabulary needs 'tokenizer.ggml.pre' (which pre-tokenizer to run; supported: {string.Join(", ", PreTokenizer.Names)})");
        if (byteLevel && merges.Length == 0)
            throw new ModelFormatException($"{f.Path}: a gpt2 vocabulary needs 'tokenizer.ggml.merges'");
        int Id(string key, int fallback)
        {
            long id = f.TryGetInt(key) ?? fallback;
            if (id < -1 || id >= tokens.Length) throw new ModelFormatException($"{f.Path}: metadata '{SafeText.Quote(key)}' = {id} is outside the vocabulary of {tokens.Length}");
            return (int)id;
        }
        bool Flag(string key, bool fallback) => f.Find(key)?.Value is bool b ? b : fallback;
        // llama.cpp's defaults: SentencePiece adds BOS and a space prefix; byte-level BPE adds BOS only for llama3-style pre-tokenizers.
        return new Vocabulary(tokens, scores, types,
            Id("tokenizer.ggml.bos_token_id", byteLevel ? -1 : 1), Id("tokenizer.ggml.eos_token_id", byteLevel ? -1 : 2),
            Id("tokenizer.ggml.unknown_token_id", byteLevel ? -1 : 0),
            Flag("tokenizer.ggml.add_bos_token", !byteLevel || PreTokenizer.AddsBosByDefault(pre!)), Flag("tokenizer.ggml.add_eos_token", false),
            Flag("tokenizer.ggml.add_space_prefix", !byteLevel))
        {
            Model = model,
            Pre = pre,
            Merges = merges,
            EotId = Id("tokenizer.ggml.eot_token_id", -1),
            EomId = Id("tokenizer.ggml.eom_token_id", -1),
            PadId = Id("tokenizer.ggml.padding_token_id", -1),
            Source = f.Path,
        };
    }

    /// <summary>Reads a SentencePiece <c>.model</c> or a llama2.c <c>tokenizer.bin</c>, chosen by content.</summary>
    public static Vocabulary FromFile(string path, int? expectedSize = null)
    {
        if (!File.Exists(path)) throw new AssetNotFoundException(path, "tokenizer file");
        byte[] bytes = File.ReadAllBytes(path);
        // A SentencePiece model starts with field 1 (pieces), wire type 2: tag byte 0x0A.
        var vocab = bytes.Length > 0 && bytes[0] == 0x0A
            ? SentencePieceModelFile.Read(path, bytes)
            : Llama2cTokenizerFile.Read(path, bytes, expectedSize ?? throw new ModelFormatException(
                $"{path}: a llama2.c tokenizer.bin does not store its vocabulary size; it must come with a checkpoint"));
        return vocab with { Source = path };
    }
}
