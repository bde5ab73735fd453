using System.Text.Json;
using Augur.Gguf;
using Augur.Tokenizers;

namespace Augur.Conversion;

/// <summary>A vocabulary read from Hugging Face tokenizer files, with the chat template of <c>tokenizer_config.json</c>.</summary>
public sealed record HfTokenizer(Vocabulary Vocabulary, string? ChatTemplate);

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> (and <c>tokenizer_config.json</c> / <c>config.json</c> beside it) into
/// the vocabulary llama.cpp's converter would write, and writes vocabulary-only GGUF files. Two shapes are known:
/// byte-level BPE (a <c>ByteLevel</c> pre-tokenizer: GGUF <c>gpt2</c>, the <c>pre</c> name found from the split regex,
/// where llama.cpp's converter hashes the ids of a test text) and SentencePiece converted to BPE (<c>byte_fallback</c>
/// and a normalizer writing spaces as U+2581: GGUF <c>llama</c>, Gemma). For the latter the file has merges but
/// no scores; a piece scores minus the rank of the first merge that makes it, so merging the best-scoring pair
/// (what SentencePiece and llama.cpp do) merges in the file's order.
/// </summary>
public static class HfTokenizerImport
{
    const string Llama3Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const string Qwen2Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>A folder holding <c>tokenizer.json</c>, or the file itself.</summary>
    public static string TokenizerJsonPath(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        return File.Exists(file) ? file : throw new AssetNotFoundException(file, "tokenizer.json");
    }

    public static HfTokenizer Read(string path)
    {
        string file = TokenizerJsonPath(path);
        string dir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(file), new JsonDocumentOptions { MaxDepth = 256 });
            using var config = ReadOptional(Path.Combine(dir, "tokenizer_config.json"));
            using var modelConfig = ReadOptional(Path.Combine(dir, "config.json"));
            return Convert(file, json.RootElement, config?.RootElement, modelConfig?.RootElement);
        }
        catch (JsonException e) { throw new ModelFormatException($"{file}: not valid JSON ({e.Message})", e); }
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new ModelFormatException($"{file}: unexpected shape ({e.Message})", e);
        }
    }

    static JsonDocument? ReadOptional(string path) => File.Exists(path) ? JsonDocument.Parse(File.ReadAllBytes(path)) : null;

    static HfTokenizer Convert(string file, JsonElement root, JsonElement? config, JsonElement? modelConfig)
    {
        var model = root.GetProperty("model");
        string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
        if (type != "BPE") throw new ModelFormatException($"{file}: model type '{type}' is not supported (supported: BPE)");

        // Pieces by id: the model's vocabulary, then the added tokens (which may also sit inside it).
        var byId = new Dictionary<int, string>();
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) byId[p.Value.GetInt32()] = p.Name;
        var added = new Dictionary<int, bool>(); // id → special
        if (root.TryGetProperty("added_tokens", out var addedTokens))
            foreach (var a in addedTokens.EnumerateArray())
            {
                int id = a.GetProperty("id").GetInt32();
                byId[id] = a.GetProperty("content").GetString()!;
                added[id] = a.TryGetProperty("special", out var s) && s.GetBoolean();
            }
        if (byId.Count == 0) throw new ModelFormatException($"{file}: the vocabulary is empty");
        int count = byId.Keys.Max() + 1;
        if (byId.Keys.Min() < 0) throw new ModelFormatException($"{file}: negative token id {byId.Keys.Min()}");

        var merges = ReadMerges(file, model);
        bool byteLevel = Contains(root.GetProperty("pre_tokenizer"), "ByteLevel") || Contains(root.GetProperty("decoder"), "ByteLevel");
        bool sentencePiece = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True
            && Contains(root.GetProperty("normalizer"), "Replace");
        if (!byteLevel && !sentencePiece)
            throw new ModelFormatException($"{file}: neither a byte-level BPE (ByteLevel pre-tokenizer) nor a SentencePiece-style BPE (byte_fallback, spaces as U+2581)");

        var tokens = new string[count];
        var types = new TokenType[count];
        for (int i = 0; i < count; i++)
        {
            if (!byId.TryGetValue(i, out var piece)) { tokens[i] = $"[PAD{i}]"; types[i] = TokenType.Unused; continue; }
            tokens[i] = piece;
            types[i] = added.TryGetValue(i, out bool special)
                ? special || (byteLevel && LooksSpecial(piece)) ? TokenType.Control : TokenType.UserDefined
                : sentencePiece && piece.Length == 6 && piece.StartsWith("<0x") && piece.EndsWith('>') ? TokenType.Byte
                : TokenType.Normal;
        }

        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++) ids.TryAdd(tokens[i], i);
        int Special(string key)
        {
            string? text = TokenText(config, key);
            if (text is not null) return ids.TryGetValue(text, out int id) ? id : throw new ModelFormatException($"{file}: {key} '{text}' is not in the vocabulary");
            // config.json names BOS/EOS by id when tokenizer_config.json does not name them.
            if (modelConfig is { } mc && mc.TryGetProperty(key + "_id", out var v) && v.ValueKind == JsonValueKind.Number && v.GetInt32() is >= 0 and var i && i < count) return i;
            return -1;
        }
        int bos = Special("bos_token"), eos = Special("eos_token"), pad = Special("pad_token");
        int unk = model.TryGetProperty("unk_token", out var u) && u.GetString() is { } unkText && ids.TryGetValue(unkText, out int unkId) ? unkId : Special("unk_token");
        var (templateBos, templateEos) = PostProcessorSpecials(root, tokens, bos, eos);
        bool addBos = Flag(config, "add_bos_token") ?? templateBos;
        bool addEos = Flag(config, "add_eos_token") ?? templateEos;

        Vocabulary vocab;
        if (byteLevel)
        {
            vocab = new Vocabulary(tokens, new float[count], types, bos, eos, unk, addBos, addEos, AddSpacePrefix: false)
            {
                Model = Vocabulary.ByteLevelModel,
                Pre = PreName(file, root.GetProperty("pre_tokenizer")),
                Merges = [.. merges.Select(m => m.Left + " " + m.Right)],
                PadId = pad,
                Source = file,
            };
        }
        else
        {
            var scores = new float[count];
            Array.Fill(scores, -(merges.Count + 1f)); // made by no merge: never formed by merging before any piece that is
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (int rank = 0; rank < merges.Count; rank++)
            {
                string piece = merges[rank].Left + merges[rank].Right;
                if (seen.Add(piece) && ids.TryGetValue(piece, out int id)) scores[id] = -rank;
            }
            // llama.cpp's converter writes user-defined pieces with real spaces ("pre-normalize user-defined spaces"):
            // llama.cpp prints user-defined pieces as they are written, so Gemma's "▁▁" runs would print as "▁▁".
            for (int i = 0; i < count; i++)
                if (types[i] == TokenType.UserDefined) tokens[i] = tokens[i].Replace('\u2581', ' ');
            bool prefix = Contains(root.GetProperty("normalizer"), "Prepend") || Contains(root.GetProperty("pre_tokenizer"), "Metaspace");
            vocab = new Vocabulary(tokens, scores, types, bos, eos, unk, addBos, addEos, AddSpacePrefix: prefix)
            {
                PadId = pad,
                Source = file,
            };
        }
        return new HfTokenizer(vocab, ChatTemplate(config));
    }

    static List<(string Left, string Right)> ReadMerges(string file, JsonElement model)
    {
        var list = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var merges)) return list;
        int i = 0;
        foreach (var m in merges.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2) list.Add((m[0].GetString()!, m[1].GetString()!));
            else if (m.ValueKind == JsonValueKind.String && m.GetString() is { } s && s.IndexOf(' ', 1) is > 0 and var space)
                list.Add((s[..space], s[(space + 1)..]));
            else throw new ModelFormatException($"{file}: model.merges[{i}] is not a pair of pieces");
            i++;
        }
        return list;
    }

    /// <summary>llama.cpp's converter marks added tokens that look like <c>&lt;|…|&gt;</c> control even when not special.</summary>
    static bool LooksSpecial(string piece) =>
        piece is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (piece.StartsWith("<|") && piece.EndsWith("|>"))
        || (piece.StartsWith("<｜") && piece.EndsWith("｜>"))
        || (piece.StartsWith("<unused") && piece.EndsWith('>'));

    /// <summary>The llama.cpp pre-tokenizer name for the pre-tokenizer of a byte-level file.</summary>
    static string PreName(string file, JsonElement pre)
    {
        var regexes = new List<string>();
        Collect(pre, regexes);
        if (regexes.Contains(Llama3Regex)) return "llama-bpe";
        if (regexes.Contains(Qwen2Regex)) return "qwen2";
        bool digits = Contains(pre, "Digits");
        bool gpt2 = HasByteLevelRegex(pre);
        if (digits && gpt2 && regexes.Count == 0) return "smollm";
        if (gpt2 && regexes.Count == 0 && !digits) return "gpt-2";
        throw new ModelFormatException($"{file}: the pre-tokenizer is none llama.cpp knows by the names Augur supports ({string.Join(", ", PreTokenizer.Names)}): split regexes [{string.Join(" ; ", regexes)}]");

        static void Collect(JsonElement e, List<string> into)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                if (e.TryGetProperty("type", out var t) && t.GetString() == "Split" && e.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var r))
                    into.Add(r.GetString()!);
                foreach (var prop in e.EnumerateObject()) Collect(prop.Value, into);
            }
            else if (e.ValueKind == JsonValueKind.Array)
                foreach (var item in e.EnumerateArray()) Collect(item, into);
        }

        static bool HasByteLevelRegex(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Object => (e.TryGetProperty("type", out var t) && t.GetString() == "ByteLevel"
                                     && (!e.TryGetProperty("use_regex", out var r) || r.ValueKind == JsonValueKind.True))
                                    || e.EnumerateObject().Any(p => HasByteLevelRegex(p.Value)),
            JsonValueKind.Array => e.EnumerateArray().Any(HasByteLevelRegex),
            _ => false,
        };
    }

    /// <summary>Whether a component of <paramref name="type"/> appears anywhere in <paramref name="e"/>.</summary>
    static bool Contains(JsonElement e, string type) => e.ValueKind switch
    {
        JsonValueKind.Object => (e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == type)
                                || e.EnumerateObject().Any(p => Contains(p.Value, type)),
        JsonValueKind.Array => e.EnumerateArray().Any(x => Contains(x, type)),
        _ => false,
    };

    /// <summary>Whether the post-processor's single-sequence template puts BOS in front / EOS behind.</summary>
    static (bool Bos, bool Eos) PostProcessorSpecials(JsonElement root, string[] tokens, int bos, int eos)
    {
        if (!root.TryGetProperty("post_processor", out var post) || post.ValueKind != JsonValueKind.Object) return (false, false);
        var single = FindSingle(post);
        if (single is null) return (false, false);
        var items = single.Value.EnumerateArray().ToList();
        string? Special(JsonElement item) => item.TryGetProperty("SpecialToken", out var s) ? s.GetProperty("id").GetString() : null;
        bool addsBos = items.Count > 0 && bos >= 0 && Special(items[0]) == tokens[bos];
        bool addsEos = items.Count > 0 && eos >= 0 && Special(items[^1]) == tokens[eos];
        return (addsBos, addsEos);

        static JsonElement? FindSingle(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                if (e.TryGetProperty("type", out var t) && t.GetString() == "TemplateProcessing" && e.TryGetProperty("single", out var s)) return s;
                foreach (var p in e.EnumerateObject()) if (FindSingle(p.Value) is { } found) return found;
            }
            else if (e.ValueKind == JsonValueKind.Array)
                foreach (var x in e.EnumerateArray()) if (FindSingle(x) is { } found) return found;
            return null;
        }
    }

    static string? TokenText(JsonElement? config, string key)
    {
        if (config is not { } c || !c.TryGetProperty(key, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var content) => content.GetString(),
            _ => null,
        };
    }

    static bool? Flag(JsonElement? config, string key) =>
        config is { } c && c.TryGetProperty(key, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;

    /// <summary>The chat template: a string, or a list of named templates of which the <c>default</c> one.</summary>
    static string? ChatTemplate(JsonElement? config)
    {
        if (config is not { } c || !c.TryGetProperty("chat_template", out var v)) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Array)
            foreach (var item in v.EnumerateArray())
                if (item.TryGetProperty("name", out var n) && n.GetString() == "default") return item.GetProperty("template").GetString();
        return null;
    }

    /// <summary>Writes a vocabulary-only GGUF: <c>general.architecture</c>, <c>general.name</c>, the tokenizer keys and the chat template.</summary>
    public static void WriteGguf(HfTokenizer tokenizer, string path, string name)
    {
        var w = new GgufWriter();
        w.Set("general.architecture", GgufValue.Of("llama"));
        w.Set("general.name", GgufValue.Of(name));
        tokenizer.Vocabulary.WriteTo(w);
        if (tokenizer.ChatTemplate is { } template) w.Set("tokenizer.chat_template", GgufValue.Of(template));
        w.Write(path);
    }
}
