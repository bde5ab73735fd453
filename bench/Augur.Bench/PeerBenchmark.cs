using Augur.Conversion;
using System.CommandLine;
using System.Text.Json;
using Augur.Cache;
using Augur.Gguf;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>peer</c>: prompt processing and text generation speed of Augur and llama.cpp on the same GGUF in the
/// same run, alternating engines each repetition after warm-up, with medians and their ratio; and the
/// memory bandwidth each engine's decoding uses against a triad sampled between the same repetitions.
/// </summary>
static class PeerBenchmark
{
    static readonly JsonSerializerOptions JsonOutput = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = $"the GGUF file; a bare name not found here is looked up in {SyntheticModel.CacheFolder}", Required = true };
        var pp = new Option<int>("--pp") { Description = "prompt tokens, processed as one batch", DefaultValueFactory = _ => 512 };
        var tg = new Option<int>("--tg") { Description = "tokens generated one at a time", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads", "-t") { Description = "threads for each engine", DefaultValueFactory = _ => 2 };
        var reps = new Option<int>("--reps", "-r") { Description = "measured repetitions per engine and test, after two warm-up rounds", DefaultValueFactory = _ => 5 };
        var kv = new Option<KvType>("--kv") { Description = "KV cache element type, the same in both engines (llama-bench's default is F16)", DefaultValueFactory = _ => KvType.F16 };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var breakdown = new Option<bool>("--breakdown") { Description = "also show where Augur's time goes (matrix groups against the rest)" };
        var cmd = new Command("peer", "Augur vs llama.cpp: prompt processing and generation tokens/s, decode bandwidth") { model, pp, tg, threads, reps, kv, json, breakdown };
        cmd.SetAction(r =>
        {
            var options = new Options(Resolve(r.GetValue(model)!), r.GetValue(pp), r.GetValue(tg), r.GetValue(threads), r.GetValue(reps), r.GetValue(kv), r.GetValue(breakdown));
            if (options.Pp < 1 || options.Tg < 1 || options.Threads < 1 || options.Reps < 1)
                throw new InvalidRequestException("--pp, --tg, --threads and --reps must be at least 1");
            var result = Run(options);
            Print(options, result);
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result.ToJson(options), JsonOutput));
            return 0;
        });
        return cmd;
    }

    sealed record Options(string Model, int Pp, int Tg, int Threads, int Reps, KvType Kv, bool Breakdown);

    /// <summary>Every measured run of one engine configuration, in the order run.</summary>
    sealed record Runs(string Name, string Configuration, double[] Pp, double[] Tg)
    {
        public double PpMedian => Median(Pp);
        public double TgMedian => Median(Tg);
    }

    sealed record Result(string FileType, long Parameters, long BytesPerToken, double[] Triads, Runs Augur, Runs[] Peers)
    {
        public double TriadGBs => Median(Triads);
        public double DecodeGBs(Runs r) => BytesPerToken * r.TgMedian / 1e9;

        public object ToJson(Options o) => new Dictionary<string, object>
        {
            ["model"] = o.Model,
            ["file_type"] = FileType,
            ["parameters"] = Parameters,
            ["threads"] = o.Threads,
            ["pp"] = o.Pp,
            ["tg"] = o.Tg,
            ["reps"] = o.Reps,
            ["kv"] = o.Kv.ToString(),
            ["bytes_per_token"] = BytesPerToken,
            ["triad_gb_s"] = Triads,
            ["augur"] = EngineJson(Augur, Augur),
            ["peers"] = Peers.Select(p => EngineJson(p, Augur)).ToArray(),
        };

        Dictionary<string, object> EngineJson(Runs r, Runs augur) => new()
        {
            ["name"] = r.Name,
            ["configuration"] = r.Configuration,
            ["pp_tok_s"] = r.Pp,
            ["tg_tok_s"] = r.Tg,
            ["pp_median"] = r.PpMedian,
            ["tg_median"] = r.TgMedian,
            ["augur_pp_ratio"] = augur.PpMedian / r.PpMedian,
            ["augur_tg_ratio"] = augur.TgMedian / r.TgMedian,
            ["decode_gb_s"] = DecodeGBs(r),
            ["bandwidth_fraction"] = DecodeGBs(r) / TriadGBs,
        };
    }

    static string Resolve(string model) => File.Exists(model) ? Path.GetFullPath(model) : SyntheticModel.ResolvePath(model);

    static Result Run(Options o)
    {
        if (!File.Exists(o.Model)) throw new AssetNotFoundException(o.Model, "model file");
        // llama-bench sizes the context to the test: n_prompt + n_gen.
        int context = o.Pp + o.Tg;
        Console.Error.WriteLine($"loading {o.Model} in both engines...");
        using var augur = new AugurEngine(o.Model, o.Threads, o.Pp, context, o.Kv);
        // Row one: llama-bench's defaults. Row two, only where `auto` left flash attention off: forced on,
        // so the comparison never rests on the peer's slower attention.
        var defaults = new LlamaCppEngine(o.Model, o.Threads, context, o.Kv, flashAttention: null, "llama.cpp");
        List<LlamaCppEngine> peers = [defaults];
        if (!defaults.FlashAttentionEnabled)
            peers.Add(new LlamaCppEngine(o.Model, o.Threads, context, o.Kv, flashAttention: true, "llama.cpp FA on"));
        using var triad = new Triad(o.Threads);
        try
        {
            return Measure(o, augur, peers, triad);
        }
        finally
        {
            foreach (var p in peers) p.Dispose();
        }
    }

    static Result Measure(Options o, AugurEngine augur, List<LlamaCppEngine> peers, Triad triad)
    {
        string fileType;
        long parameters;
        using (var f = GgufFile.Open(o.Model))
        {
            fileType = string.Join("+", f.Tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Sum(t => t.ByteSize)).Select(g => g.Key));
            parameters = f.Tensors.Sum(t => t.ElementCount);
        }
        var c = augur.Model.Config;

        // llama-bench's inputs: BOS, then random ids (the values do not change the work done).
        var random = new Random(42);
        // BOS first where the vocabulary has one (Qwen has none), then random ids: cost does not depend on which.
        int[] Tokens(int n) => [augur.BosId >= 0 ? augur.BosId : random.Next(c.VocabSize), .. Enumerable.Range(1, n - 1).Select(_ => random.Next(c.VocabSize))];
        int[] ppTokens = Tokens(o.Pp), tgTokens = Tokens(o.Tg);

        IBenchEngine[] engines = [augur, .. peers];
        var pp = engines.ToDictionary(e => e, _ => new List<double>());
        var tg = engines.ToDictionary(e => e, _ => new List<double>());
        var triads = new List<double>();
        // Two warm-up rounds (rep < 0): page the weights in, size buffers, and let the JIT's background
        // tier-up finish, which would otherwise steal a core from whichever engine runs next.
        for (int rep = -2; rep < o.Reps; rep++)
        {
            Console.Error.WriteLine(rep < 0 ? "warm-up..." : $"repetition {rep + 1} of {o.Reps}...");
            // Alternate who goes first, and pause between engines so one's spinning threads are asleep
            // before the other starts.
            foreach (var e in (rep & 1) == 0 ? engines : Enumerable.Reverse(engines))
            {
                Thread.Sleep(200);
                double ppSeconds = e.PromptProcessing(ppTokens);
                Thread.Sleep(200);
                double tgSeconds = e.TextGeneration(tgTokens);
                if (rep < 0) continue;
                pp[e].Add(o.Pp / ppSeconds);
                tg[e].Add(o.Tg / tgSeconds);
                Console.Error.WriteLine($"  {e.Name}: pp {o.Pp / ppSeconds:F1} tok/s, tg {o.Tg / tgSeconds:F1} tok/s");
            }
            // The bandwidth on offer moves with the neighbours, so it is sampled as often as the engines.
            if (rep < 0) continue;
            triads.Add(triad.GigabytesPerSecond());
            Console.Error.WriteLine($"  triad: {triads[^1]:F1} GB/s");
        }
        if (o.Breakdown) AugurBreakdown.Print(augur, ppTokens, tgTokens, Median([.. triads]), o.Reps);
        Runs RunsOf(IBenchEngine e, string configuration) => new(e.Name, configuration, [.. pp[e]], [.. tg[e]]);
        return new Result(fileType, parameters, augur.Model.Weights.BytesPerToken, [.. triads],
            RunsOf(augur, $"KV {o.Kv}, max batch {o.Pp}, {o.Threads} threads"),
            [.. peers.Select(p => RunsOf(p, p.Configuration))]);
    }

    static void Print(Options o, Result r)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(Path.GetFileName(o.Model))}[/]: {r.FileType}, {r.Parameters / 1e6:F1}M parameters, " +
                               $"{r.BytesPerToken / 1e6:F1} MB read per decoded token; {o.Threads} threads, median (range) of {o.Reps} runs after warm-up");
        foreach (var e in (Runs[])[r.Augur, .. r.Peers])
            AnsiConsole.MarkupLine($"  {Markup.Escape(e.Name)}: {Markup.Escape(e.Configuration)}");
        var table = new Table().AddColumn("engine").AddColumn("test")
            .AddColumn(new TableColumn("tok/s").RightAligned())
            .AddColumn(new TableColumn("every run").RightAligned())
            .AddColumn(new TableColumn("Augur ÷ this").RightAligned());
        static string Cell(double[] v) => $"{Median(v):F1} [grey]({v.Min():F1}–{v.Max():F1})[/]";
        static string All(double[] v) => string.Join(" ", v.Select(x => x.ToString("F1")));
        foreach (var e in (Runs[])[r.Augur, .. r.Peers])
        {
            table.AddRow(Markup.Escape(e.Name), $"pp{o.Pp}", Cell(e.Pp), All(e.Pp), e == r.Augur ? "" : $"{r.Augur.PpMedian / e.PpMedian:F2}");
            table.AddRow(Markup.Escape(e.Name), $"tg{o.Tg}", Cell(e.Tg), All(e.Tg), e == r.Augur ? "" : $"{r.Augur.TgMedian / e.TgMedian:F2}");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("decode bandwidth: " + string.Join(", ", ((Runs[])[r.Augur, .. r.Peers]).Select(e =>
                                   $"{Markup.Escape(e.Name)} {r.DecodeGBs(e):F1} GB/s ({r.DecodeGBs(e) / r.TriadGBs:P0} of triad)")) +
                               $"; triad {r.TriadGBs:F1} GB/s [grey]({r.Triads.Min():F1}–{r.Triads.Max():F1})[/], {o.Threads} threads, sampled each repetition");
    }

    static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
