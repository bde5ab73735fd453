using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Augur.Conversion;
using Augur.Gguf;
using Augur.Tokenizers;
using LLama;
using LLama.Common;
using LLama.Native;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>tokenize</c>: encoding speed of Augur's tokenizer against llama.cpp's on the same GGUF in the same run, over
/// 1 MB of mixed text (the TinyStories sample, the 147 shared tokenizer-vector texts in many scripts and the shared
/// chat templates, repeated to 1 MB), special tokens not parsed, BOS as the vocabulary says. Each vocabulary is
/// converted from <c>shared/tokenizers/NAME</c> first; the reps alternate which engine goes first; medians.
/// </summary>
static class TokenizeBenchmark
{
    public static Command Create()
    {
        var names = new Option<string[]>("--vocab") { Description = "shared tokenizers to measure (default: llama3 qwen3 gemma3)", AllowMultipleArgumentsPerToken = true };
        var reps = new Option<int>("--reps") { Description = "timed repetitions per engine", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var cmd = new Command("tokenize", "tokenizer speed: Augur vs llama.cpp, tokens/s over 1 MB of mixed text") { names, reps, json };
        cmd.SetAction(r =>
        {
            NativeLibraryConfig.All.WithLogCallback((_, _) => { });
            string text = MixedText(1 << 20);
            var rows = new List<(string Name, int Tokens, double Augur, double LlamaCpp, bool Same)>();
            string folder = Directory.CreateTempSubdirectory("augur-bench-vocab-").FullName;
            try
            {
                foreach (string name in r.GetValue(names) is { Length: > 0 } n ? n : ["llama3", "qwen3", "gemma3"])
                {
                    string path = Path.Combine(folder, name + ".gguf");
                    HfTokenizerImport.WriteGguf(HfTokenizerImport.Read(Path.Combine(SharedAssets.Root, "tokenizers", name)), path, name);
                    ITokenizer augur;
                    using (var gguf = GgufFile.Open(path)) augur = TokenizerFactory.Create(Vocabulary.FromGguf(gguf));
                    using var peer = LLamaWeights.LoadFromFile(new ModelParams(path) { VocabOnly = true, GpuLayerCount = 0 });
                    int[] ours = augur.Encode(text), theirs = [.. peer.Tokenize(text, true, false, Encoding.UTF8).Select(t => (int)t)];
                    var augurTimes = new List<double>();
                    var peerTimes = new List<double>();
                    for (int rep = 0; rep < r.GetValue(reps); rep++)
                    {
                        double TimeAugur() { var sw = Stopwatch.StartNew(); augur.Encode(text); return sw.Elapsed.TotalSeconds; }
                        double TimePeer() { var sw = Stopwatch.StartNew(); peer.Tokenize(text, true, false, Encoding.UTF8); return sw.Elapsed.TotalSeconds; }
                        if (rep % 2 == 0) { augurTimes.Add(TimeAugur()); peerTimes.Add(TimePeer()); }
                        else { peerTimes.Add(TimePeer()); augurTimes.Add(TimeAugur()); }
                    }
                    rows.Add((name, ours.Length, ours.Length / Median(augurTimes), theirs.Length / Median(peerTimes), ours.SequenceEqual(theirs)));
                }
            }
            finally { Directory.Delete(folder, recursive: true); }
            var table = new Table().AddColumns("vocabulary", "tokens", "Augur tok/s", "llama.cpp tok/s", "Augur ÷ llama.cpp", "same ids");
            foreach (var row in rows)
                table.AddRow(row.Name, row.Tokens.ToString("N0"), row.Augur.ToString("N0"), row.LlamaCpp.ToString("N0"), $"{row.Augur / row.LlamaCpp:F2}×", row.Same ? "yes" : "no");
            AnsiConsole.Write(table);
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(rows.Select(x => new { vocabulary = x.Name, tokens = x.Tokens, augur_tok_s = x.Augur, llama_cpp_tok_s = x.LlamaCpp, same_ids = x.Same })));
            return 0;
        });
        return cmd;
    }

    static double Median(List<double> xs) { var s = xs.Order().ToList(); return s[s.Count / 2]; }

    static string MixedText(int bytes)
    {
        var parts = new List<string> { File.ReadAllText(SharedAssets.Data("tinystories-valid-sample.txt")) };
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(SharedAssets.Data("tokenizer-vectors/llama3.json"))))
            parts.AddRange(doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()!));
        parts.AddRange(Directory.GetFiles(SharedAssets.Data("chat-templates"), "*.jinja").Order().Select(File.ReadAllText));
        var sb = new StringBuilder();
        var random = new Random(11);
        while (Encoding.UTF8.GetByteCount(sb.ToString()) < bytes) sb.Append(parts[random.Next(parts.Count)]).Append('\n');
        return sb.ToString();
    }
}
