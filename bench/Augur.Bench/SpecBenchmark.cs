using Augur.Conversion;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Speculative;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>spec</c>: a Spec-Bench-style table of the training-free drafters on the first sentence of 50 TinyStories
/// validation stories (greedy, 128 new tokens each): tokens per verification step, wall-clock speedup against
/// plain greedy decoding measured in the same run (each prompt runs plain, every drafter, then plain again, so
/// drift hits all alike; the median of <c>--rounds</c> passes, each with fresh drafters, after a warm-up on other
/// stories), and whether the output is identical. With <c>--cost-model</c>, also the cost of verifying k draft
/// tokens relative to decoding one on that (larger) model, which says what each acceptance rate buys there.
/// </summary>
static class SpecBenchmark
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "the target GGUF (default: stories260K.gguf)" };
        var draftModel = new Option<string?>("--draft-model") { Description = "a smaller model with the same vocabulary, for the 'draft' row" };
        var prompts = new Option<int>("--prompts") { DefaultValueFactory = _ => 50 };
        var tokens = new Option<int>("--tokens") { DefaultValueFactory = _ => 128 };
        var rounds = new Option<int>("--rounds") { Description = "measured passes over the prompts, each with fresh drafters; the median is reported", DefaultValueFactory = _ => 5 };
        var costModel = new Option<string?>("--cost-model") { Description = "GGUF on which to measure verification cost for k = 1..64 (e.g. the 110m synthetic preset)" };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var cmd = new Command("spec", "speculative decoding: accepted tokens per step and speedup of each drafter") { model, draftModel, prompts, tokens, rounds, costModel, json };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(model) ?? SharedAssets.Model(SharedAssets.DefaultModel);
            var all = Measure(path, r.GetValue(draftModel), r.GetValue(prompts), r.GetValue(tokens), r.GetValue(rounds));
            var rows = all.Where(x => !x.Name.StartsWith("oracle-")).ToList();
            var bounds = all.Where(x => x.Name.StartsWith("oracle-")).ToList();
            var table = new Table().AddColumns("drafter", "tokens/step", "acceptance", "speedup (median)", "range", "identical");
            foreach (var row in rows)
                table.AddRow(row.Name, row.MeanAccepted.ToString("F2"), row.AcceptanceRate.ToString("P0"), $"{row.Speedup:F2}×",
                    $"{row.MinSpeedup:F2}–{row.MaxSpeedup:F2}", row.Identical ? "yes" : "[red]NO[/]");
            AnsiConsole.Write(table);
            var boundTable = new Table().AddColumns("perfect drafter (true continuation)", "tokens/step", "speedup (median)", "range");
            foreach (var row in bounds) boundTable.AddRow(row.Name, row.MeanAccepted.ToString("F2"), $"{row.Speedup:F2}×", $"{row.MinSpeedup:F2}–{row.MaxSpeedup:F2}");
            AnsiConsole.Write(boundTable);
            List<object>? costs = null;
            if (r.GetValue(costModel) is { } cm)
            {
                costs = [];
                var costTable = new Table().AddColumns("k", "verify µs", "cost ÷ one decode");
                foreach (var (k, ms, ratio) in VerificationCost(File.Exists(cm) ? cm : SyntheticModel.ResolvePath(cm)))
                {
                    costTable.AddRow(k.ToString(), (ms * 1000).ToString("F1"), ratio.ToString("F2"));
                    costs.Add(new { k, ms, ratio });
                }
                AnsiConsole.Write(costTable);
            }
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    drafters = rows.Select(x => new { name = x.Name, mean_accepted = x.MeanAccepted, acceptance = x.AcceptanceRate, speedup = x.Speedup, speedup_min = x.MinSpeedup, speedup_max = x.MaxSpeedup, identical = x.Identical }),
                    oracle = bounds.Select(x => new { name = x.Name, mean_accepted = x.MeanAccepted, speedup = x.Speedup, speedup_min = x.MinSpeedup, speedup_max = x.MaxSpeedup, identical = x.Identical }),
                    verify_cost = costs,
                }));
            return 0;
        });
        return cmd;
    }

    const int WarmupPrompts = 5;

    /// <summary>Draft lengths of the perfect drafter the table is bounded by.</summary>
    static readonly int[] OracleLengths = [1, 2, 4, 8, 16];

    /// <summary>
    /// Not a technique but a yardstick: proposes the next d tokens of the plain greedy output, all of which are
    /// accepted. Its speedup is the most any drafter drafting d tokens per step could reach on this machine.
    /// </summary>
    sealed class OracleDrafter(int length) : IDrafter
    {
        public int[] Sequence { get; set; } = [];
        public string Name => $"oracle-{length}";
        public void Begin(ReadOnlySpan<int> prompt) { }
        public void Propose(ReadOnlySpan<int> context, DraftTree tree)
        {
            int n = Math.Min(length, Sequence.Length - context.Length);
            if (n > 0 && context.SequenceEqual(Sequence.AsSpan(0, context.Length))) tree.AddChain(-1, Sequence.AsSpan(context.Length, n));
        }
    }

    /// <summary>One drafter's totals over all rounds; Speedup is the median round's, Min/Max the range.</summary>
    sealed record Row(string Name, double MeanAccepted, double AcceptanceRate, double Speedup, double MinSpeedup, double MaxSpeedup, bool Identical);

    static string[] FirstSentences(int count) => File.ReadAllText(SharedAssets.Data("tinystories-valid-sample.txt"))
        .Split("<|endoftext|>", StringSplitOptions.RemoveEmptyEntries)
        .Select(s => s.Trim()).Where(s => s.Length > 0)
        .Select(s => s[..(s.IndexOf('.') is int dot and >= 0 ? dot + 1 : s.Length)])
        .Take(count).ToArray();

    static List<Row> Measure(string path, string? draftPath, int promptCount, int tokens, int rounds)
    {
        using var target = LoadedModel.Open(path);
        using var draft = draftPath is null ? null : LoadedModel.Open(draftPath);
        string[] names = ["lookup", "recycling", "aded", "swift", "auto", .. draft is null ? Array.Empty<string>() : ["draft"], .. OracleLengths.Select(d => $"oracle-{d}")];
        var plain = new Generator(target.Model, target.Tokenizer);
        // Fresh generators (so fresh drafter state: ADED and Token Recycling learn across requests) for each round,
        // and for the warm-up, which runs on stories outside the measured set so nothing measured is memorised.
        Generator[] Fresh() => names.Select(n =>
        {
            var g = new Generator(target.Model, target.Tokenizer);
            g.Drafter = n.StartsWith("oracle-") ? new OracleDrafter(int.Parse(n["oracle-".Length..])) : Drafters.Create(n, target.Model, g.Cache, draft?.Model);
            return g;
        }).ToArray();
        var stories = FirstSentences(promptCount + WarmupPrompts);
        var prompts = stories[..promptCount];

        GenerationRequest Request(string prompt) => new() { Prompt = prompt, MaxTokens = tokens, Sampling = SamplingOptions.Greedy };
        // Warm-up: JIT (all tiers) and caches.
        var warm = Fresh();
        foreach (var prompt in stories[promptCount..])
        {
            var expected = plain.Generate(Request(prompt));
            foreach (var g in warm)
            {
                if (g.Drafter is OracleDrafter oracle) oracle.Sequence = [.. expected.PromptIds, .. expected.Ids];
                g.Generate(Request(prompt));
            }
        }

        var speedups = names.Select(_ => new List<double>()).ToArray();
        var steps = new long[names.Length];
        var emitted = new long[names.Length];
        var drafted = new long[names.Length];
        var accepted = new long[names.Length];
        var identical = Enumerable.Repeat(true, names.Length).ToArray();
        AnsiConsole.Progress().Start(ctx =>
        {
            var task = ctx.AddTask("rounds × prompts", maxValue: rounds * prompts.Length);
            for (int round = 0; round < rounds; round++)
            {
                var generators = Fresh();
                var plainTime = TimeSpan.Zero;
                var time = new TimeSpan[names.Length];
                foreach (var prompt in prompts)
                {
                    // Plain decoding runs before and after the drafters and counts half each time, so whatever
                    // drifts during a prompt (caches, clock speed) weighs on both sides alike.
                    var clock = Stopwatch.StartNew();
                    var expected = plain.Generate(Request(prompt));
                    plainTime += clock.Elapsed / 2;
                    for (int i = 0; i < names.Length; i++)
                    {
                        if (generators[i].Drafter is OracleDrafter oracle) oracle.Sequence = [.. expected.PromptIds, .. expected.Ids];
                        clock.Restart();
                        var result = generators[i].Generate(Request(prompt));
                        time[i] += clock.Elapsed;
                        var st = result.Speculation!;
                        steps[i] += st.Steps;
                        emitted[i] += st.Accepted + st.Steps;
                        drafted[i] += st.Drafted;
                        accepted[i] += st.Accepted;
                        identical[i] &= result.Ids.AsSpan().SequenceEqual(expected.Ids);
                    }
                    clock.Restart();
                    plain.Generate(Request(prompt));
                    plainTime += clock.Elapsed / 2;
                    task.Increment(1);
                }
                for (int i = 0; i < names.Length; i++) speedups[i].Add(plainTime / time[i]);
            }
        });
        return names.Select((n, i) =>
        {
            var sorted = speedups[i].Order().ToList();
            return new Row(n, (double)emitted[i] / steps[i], drafted[i] == 0 ? 0 : (double)accepted[i] / drafted[i],
                sorted[sorted.Count / 2], sorted[0], sorted[^1], identical[i]);
        }).ToList();
    }

    /// <summary>Time of one forward over the last token plus k draft tokens (a chain) at context 256, against k = 0.</summary>
    static IEnumerable<(int K, double Ms, double Ratio)> VerificationCost(string path)
    {
        using var loaded = LoadedModel.Open(path);
        var m = loaded.Model;
        var cache = m.CreateCache(1024);
        var batch = new Batch(m.MaxBatch);
        const int Context = 256;
        for (int i = 0; i < Context; i += 64)
        {
            batch.Clear();
            for (int j = i; j < i + 64; j++) batch.Add(j % m.Config.VocabSize, j, 0, logits: false);
            m.Forward(batch, cache);
        }
        double Time(int k)
        {
            var samples = new List<double>();
            for (int rep = 0; rep < 7; rep++)
            {
                batch.Clear();
                for (int j = 0; j <= k; j++) batch.Add((7 * j + 3) % m.Config.VocabSize, Context + j, 0, logits: true);
                var clock = Stopwatch.StartNew();
                m.Forward(batch, cache);
                samples.Add(clock.Elapsed.TotalMilliseconds);
                cache.Trim(0, Context);
            }
            samples.Sort();
            return samples[samples.Count / 2];
        }
        Time(0);
        double one = Time(0);
        yield return (0, one, 1);
        foreach (int k in new[] { 1, 2, 4, 8, 16, 32, 64 })
        {
            double t = Time(k);
            yield return (k, t, t / one);
        }
    }
}
