using Augur.Conversion;
using System.CommandLine;
using System.Text.Json;
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
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var breakdown = new Option<bool>("--breakdown") { Description = "also show where Augur's time goes (matrix groups against the rest)" };
        var cmd = new Command("peer", "Augur vs llama.cpp: prompt processing and generation tokens/s, decode bandwidth") { model, pp, tg, threads, reps, json, breakdown };
        cmd.SetAction(r =>
        {
            var options = new Options(Resolve(r.GetValue(model)!), r.GetValue(pp), r.GetValue(tg), r.GetValue(threads), r.GetValue(reps), r.GetValue(breakdown));
            if (options.Pp < 1 || options.Tg < 1 || options.Threads < 1 || options.Reps < 1)
                throw new InvalidRequestException("--pp, --tg, --threads and --reps must be at least 1");
            var result = Run(options);
            Print(options, result);
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result.ToJson(options), JsonOutput));
            return 0;
        });
        return cmd;
    }

    sealed record Options(string Model, int Pp, int Tg, int Threads, int Reps, bool Breakdown);

    sealed record Result(
        string FileType, long Parameters, long BytesPerToken, double[] Triads,
        double[] AugurPp, double[] PeerPp, double[] AugurTg, double[] PeerTg)
    {
        public double TriadGBs => Median(Triads);
        public double AugurPpMedian => Median(AugurPp);
        public double PeerPpMedian => Median(PeerPp);
        public double AugurTgMedian => Median(AugurTg);
        public double PeerTgMedian => Median(PeerTg);
        public double AugurDecodeGBs => BytesPerToken * AugurTgMedian / 1e9;
        public double PeerDecodeGBs => BytesPerToken * PeerTgMedian / 1e9;

        public object ToJson(Options o) => new Dictionary<string, object>
        {
            ["model"] = o.Model,
            ["file_type"] = FileType,
            ["parameters"] = Parameters,
            ["threads"] = o.Threads,
            ["pp"] = o.Pp,
            ["tg"] = o.Tg,
            ["reps"] = o.Reps,
            ["augur_pp_tok_s"] = AugurPpMedian,
            ["augur_tg_tok_s"] = AugurTgMedian,
            ["peer_pp_tok_s"] = PeerPpMedian,
            ["peer_tg_tok_s"] = PeerTgMedian,
            ["pp_ratio"] = AugurPpMedian / PeerPpMedian,
            ["tg_ratio"] = AugurTgMedian / PeerTgMedian,
            ["bytes_per_token"] = BytesPerToken,
            ["triad_gb_s"] = TriadGBs,
            ["augur_decode_gb_s"] = AugurDecodeGBs,
            ["peer_decode_gb_s"] = PeerDecodeGBs,
            ["augur_bandwidth_fraction"] = AugurDecodeGBs / TriadGBs,
            ["peer_bandwidth_fraction"] = PeerDecodeGBs / TriadGBs,
        };
    }

    static string Resolve(string model) => File.Exists(model) ? Path.GetFullPath(model) : SyntheticModel.ResolvePath(model);

    static Result Run(Options o)
    {
        if (!File.Exists(o.Model)) throw new AssetNotFoundException(o.Model, "model file");
        int context = Math.Max(o.Pp, o.Tg);
        Console.Error.WriteLine($"loading {o.Model} in both engines...");
        using var augur = new AugurEngine(o.Model, o.Threads, o.Pp, context);
        using var peer = new LlamaCppEngine(o.Model, o.Threads, o.Pp, context);
        using var triad = new Triad(o.Threads);
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

        IBenchEngine[] engines = [augur, peer];
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
        return new Result(fileType, parameters, augur.Model.Weights.BytesPerToken, [.. triads],
            [.. pp[augur]], [.. pp[peer]], [.. tg[augur]], [.. tg[peer]]);
    }

    static void Print(Options o, Result r)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(Path.GetFileName(o.Model))}[/]: {r.FileType}, {r.Parameters / 1e6:F1}M parameters, " +
                               $"{r.BytesPerToken / 1e6:F1} MB read per decoded token; {o.Threads} threads, median of {o.Reps} after warm-up");
        var table = new Table().AddColumn("test")
            .AddColumn(new TableColumn("Augur tok/s").RightAligned())
            .AddColumn(new TableColumn("llama.cpp tok/s").RightAligned())
            .AddColumn(new TableColumn("Augur ÷ llama.cpp").RightAligned());
        static string Cell(double[] v) => $"{Median(v):F1} [grey]({v.Min():F1}–{v.Max():F1})[/]";
        table.AddRow($"pp{o.Pp}", Cell(r.AugurPp), Cell(r.PeerPp), $"{r.AugurPpMedian / r.PeerPpMedian:F2}");
        table.AddRow($"tg{o.Tg}", Cell(r.AugurTg), Cell(r.PeerTg), $"{r.AugurTgMedian / r.PeerTgMedian:F2}");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"decode bandwidth: Augur {r.AugurDecodeGBs:F1} GB/s ({r.AugurDecodeGBs / r.TriadGBs:P0} of triad), " +
                               $"llama.cpp {r.PeerDecodeGBs:F1} GB/s ({r.PeerDecodeGBs / r.TriadGBs:P0}); " +
                               $"triad {r.TriadGBs:F1} GB/s [grey]({r.Triads.Min():F1}–{r.Triads.Max():F1})[/], {o.Threads} threads, sampled each repetition");
    }

    static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
