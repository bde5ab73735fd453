using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Augur.Conversion;
using Augur.Generation;
using Augur.Grammars;
using Augur.Model;
using Augur.Sampling;
using Augur.Tensors;
using Augur.Tests.Grammars;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>grammar</c>: what the token mask costs. Per-token decode time of constrained against unconstrained sampling on
/// a synthetic model (the 110m shape, F16) carrying a real large vocabulary (Llama 3's 128k, Gemma 3's 262k), in the
/// same run: a cold pass (token tables are built as contexts are first met) and then a warm pass over the same
/// requests (steady state: the tables exist), the modes rotating per repetition. Seeded sampling at temperature 1 over random weights makes
/// every allowed token about equally likely, so outputs wander through strings, numbers and nesting. Also the
/// compile time (JSON Schema → GBNF → grammar) of the tests' 20 schemas.
/// </summary>
static class GrammarBenchmark
{
    /// <summary>The modes after "unconstrained": a name and a grammar (bounded: the same schema with long counted repetitions).</summary>
    static readonly (string Name, Func<Grammar> Grammar)[] Grammars =
    [
        ("json_object", () => JsonSchemaGrammar.AnyObject),
        ("schema", () => JsonSchemaGrammar.Compile(
            """{"type":"object","properties":{"name":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}}},"required":["name","tags"]}""")),
        ("schema, bounded", () => JsonSchemaGrammar.Compile(
            """{"type":"object","properties":{"name":{"type":"string","maxLength":200},"tags":{"type":"array","items":{"type":"string","maxLength":30},"maxItems":20}},"required":["name","tags"]}""")),
    ];

    public static Command Create()
    {
        var vocabs = new Option<string[]>("--vocab") { Description = "shared tokenizers to measure (default: llama3 gemma3)", AllowMultipleArgumentsPerToken = true };
        var preset = new Option<string>("--preset") { Description = "synthetic model shape", DefaultValueFactory = _ => "110m" };
        var tokens = new Option<int>("--tokens") { Description = "most tokens per request", DefaultValueFactory = _ => 64 };
        var reps = new Option<int>("--reps") { Description = "timed requests per mode", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var cmd = new Command("grammar", "constrained vs unconstrained per-token time on large vocabularies; schema compile time") { vocabs, preset, tokens, reps, json };
        cmd.SetAction(r =>
        {
            var compile = CompileTimes();
            AnsiConsole.WriteLine($"compile, 20 schemas: first pass (JIT included) {compile.First:F1} ms; warm {compile.Warm:F2} ms in all, slowest {compile.Slowest:F3} ms");
            var rows = new List<Row>();
            foreach (string name in r.GetValue(vocabs) is { Length: > 0 } v ? v : ["llama3", "gemma3"])
                rows.AddRange(Measure(name, r.GetValue(preset)!, r.GetValue(tokens), r.GetValue(reps)));
            var table = new Table().AddColumns("vocabulary", "mode", "tokens", "cold ms/tok", "cold ratio", "warm ms/tok", "warm ratio", "tables");
            foreach (var row in rows)
                table.AddRow(row.Vocabulary, Markup.Escape(row.Mode), row.Tokens.ToString(), row.ColdMsPerToken.ToString("F1"), $"{row.ColdRatio:F2}×",
                    row.MsPerToken.ToString("F1"), $"{row.Ratio:F2}×", row.Tables.ToString());
            AnsiConsole.Write(table);
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    compile_ms = new { first = compile.First, warm_total = compile.Warm, warm_slowest = compile.Slowest },
                    rows = rows.Select(x => new { vocabulary = x.Vocabulary, mode = x.Mode, tokens = x.Tokens, cold_ms_per_token = x.ColdMsPerToken, cold_ratio = x.ColdRatio, ms_per_token = x.MsPerToken, ratio = x.Ratio, tables = x.Tables }),
                }));
            return 0;
        });
        return cmd;
    }

    sealed record Row(string Vocabulary, string Mode, int Tokens, double ColdMsPerToken, double ColdRatio, double MsPerToken, double Ratio, int Tables);

    static (double First, double Warm, double Slowest) CompileTimes()
    {
        var sw = Stopwatch.StartNew();
        foreach (string s in TestSchemas.All) JsonSchemaGrammar.Compile(s);
        double first = sw.Elapsed.TotalMilliseconds;
        var totals = new List<double>();
        double slowest = 0;
        for (int pass = 0; pass < 5; pass++)
        {
            double total = 0;
            foreach (string s in TestSchemas.All)
            {
                sw.Restart();
                JsonSchemaGrammar.Compile(s);
                double ms = sw.Elapsed.TotalMilliseconds;
                total += ms;
                slowest = Math.Max(slowest, ms);
            }
            totals.Add(total);
        }
        return (first, totals.Order().ElementAt(totals.Count / 2), slowest);
    }

    static IEnumerable<Row> Measure(string vocabName, string preset, int maxTokens, int reps)
    {
        string path = SyntheticModel.ResolvePath($"grammar-{preset}-{vocabName}-f16.gguf");
        if (!File.Exists(path))
        {
            Console.Error.WriteLine($"writing {path}...");
            var vocab = HfTokenizerImport.Read(Path.Combine(SharedAssets.Root, "tokenizers", vocabName)).Vocabulary;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            SyntheticModel.Write(path + ".partial", SyntheticModel.Config(SyntheticModel.Presets[preset], vocab.Count), vocab, GgmlType.F16);
            File.Move(path + ".partial", path);
        }
        using var model = LoadedModel.Open(path);
        var generator = new Generator(model.Model, model.Tokenizer, contextLength: 512);
        var grammars = Grammars.Select(g => (g.Name, Grammar: (Grammar?)g.Grammar())).Prepend(("unconstrained", null)).ToList();
        GenerationRequest Request(Grammar? grammar, int seed) => new()
        {
            Prompt = "Answer in JSON:",
            MaxTokens = maxTokens,
            Sampling = new SamplingOptions { Seed = seed, Temperature = 1.0f, TopK = 0, TopP = 1, MinP = 0 },
            Grammar = grammar,
        };
        var cold = Pass();
        var warm = Pass();
        for (int m = 0; m < grammars.Count; m++)
            yield return new Row(vocabName, grammars[m].Name, warm.Counts[m], cold.PerToken(m) * 1000, cold.PerToken(m) / cold.PerToken(0),
                warm.PerToken(m) * 1000, warm.PerToken(m) / warm.PerToken(0), grammars[m].Grammar?.TableCount(model.Tokenizer) ?? 0);

        (double[] Seconds, int[] Counts, Func<int, double> PerToken) Pass()
        {
            var seconds = new double[grammars.Count];
            var counts = new int[grammars.Count];
            for (int rep = 0; rep < reps; rep++)
                for (int i = 0; i < grammars.Count; i++)
                {
                    int m = (i + rep) % grammars.Count; // rotate the order so drift hits every mode alike
                    var result = generator.Generate(Request(grammars[m].Grammar, rep));
                    seconds[m] += result.GenerationTime.TotalSeconds;
                    counts[m] += result.Ids.Length;
                }
            return (seconds, counts, m => seconds[m] / Math.Max(counts[m], 1));
        }
    }
}
