using Augur.Model;
using Augur.Conversion;
using System.CommandLine;
using Augur.Gguf;
using Spectre.Console;
using System.Text.Json;
using Augur.Tokenizers;

namespace Augur.Cli.Commands;

static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "a GGUF file or llama2.c checkpoint" };
        var cmd = new Command("inspect", "print a model's metadata and tensor table") { path };
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            string p = r.GetValue(path)!;
            if (!File.Exists(p)) throw new AssetNotFoundException(p, "model file");
            using var fs = File.OpenRead(p);
            Span<byte> magic = stackalloc byte[4];
            bool gguf = fs.Read(magic) == 4 && BitConverter.ToUInt32(magic) == GgufFile.Magic;
            fs.Dispose();
            if (gguf) PrintGguf(p); else PrintLlama2c(p);
            return 0;
        }));
        return cmd;
    }

    static void PrintGguf(string path)
    {
        using var f = GgufFile.Open(path);
        Console.WriteLine($"{path}: GGUF v{f.Version}, {f.Metadata.Count} metadata keys, {f.Tensors.Count} tensors, alignment {f.Alignment}, {f.FileSize:N0} bytes");
        var meta = new Table().AddColumn(new TableColumn("key").NoWrap()).AddColumns("type", "value"); // whole keys, so the output greps
        foreach (var key in f.MetadataKeys)
        {
            var v = f.Metadata[key];
            string type = v.IsArray ? $"{v.ElementType}[{v.ArrayLength}]" : v.Type.ToString();
            meta.AddRow(Markup.Escape(key), Markup.Escape(type), Markup.Escape(Show(v))); // "String[512]" would read as markup
        }
        AnsiConsole.Write(meta);
        var tensors = new Table().AddColumn(new TableColumn("name").NoWrap()).AddColumns("type", "shape").AddColumn(new TableColumn("bytes").RightAligned()).AddColumn(new TableColumn("offset").RightAligned());
        foreach (var t in f.Tensors)
            tensors.AddRow(Markup.Escape(t.Name), t.Type.ToString(), string.Join(" × ", t.Shape), t.ByteSize.ToString("N0"), t.Offset.ToString("N0"));
        AnsiConsole.Write(tensors);
        long parameters = f.Tensors.Sum(t => t.ElementCount);
        Console.WriteLine($"{parameters:N0} parameters");
        if (f.Find("tokenizer.ggml.model") is not null) Console.WriteLine(Tokenizer(Vocabulary.FromGguf(f)));
    }

    /// <summary>One line: the tokenizer kind, pre-tokenizer, size and special ids.</summary>
    static string Tokenizer(Vocabulary v)
    {
        string kind = TokenizerFactory.Create(v) is ByteLevelBpeTokenizer ? "byte-level BPE" : "SentencePiece BPE";
        string Id(int id) => id >= 0 ? $"{id} {JsonSerializer.Serialize(v.Tokens[id], new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })}" : "none";
        return $"tokenizer: {kind} ({v.Model}{(v.Pre is null ? "" : $", pre {v.Pre}")}), {v.Count} tokens, {v.Merges.Length} merges; " +
               $"BOS {Id(v.BosId)}{(v.AddBos ? " (added)" : "")}, EOS {Id(v.EosId)}{(v.AddEos ? " (added)" : "")}, " +
               $"end of generation [{string.Join(", ", v.EndOfGeneration.Order().Select(Id))}]";
    }

    static string Show(GgufValue v)
    {
        if (v.Value is not Array a) return v.ToString();
        var items = a.Cast<object>().Take(8).Select(e => e is string s ? $"\"{s}\"" : Convert.ToString(e, System.Globalization.CultureInfo.InvariantCulture));
        return $"[{string.Join(", ", items)}{(a.Length > 8 ? ", …" : "")}]";
    }

    static void PrintLlama2c(string path)
    {
        using var ckpt = Llama2cCheckpoint.Open(path);
        var c = ckpt.Config;
        Console.WriteLine($"{path}: llama2.c checkpoint, classifier {(ckpt.SharedClassifier ? "shared with the embedding" : "separate")}");
        Console.WriteLine($"dim {c.Dim}, hidden {c.HiddenDim}, layers {c.Layers}, heads {c.Heads}, kv heads {c.KvHeads}, vocab {c.VocabSize}, seq_len {c.ContextLength}");
        var tensors = new Table().AddColumns("name (GGUF)", "shape");
        foreach (var (name, shape, _) in ckpt.Tensors) tensors.AddRow(name, string.Join(" × ", shape));
        AnsiConsole.Write(tensors);
    }
}
