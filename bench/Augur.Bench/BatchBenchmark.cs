using Augur.Conversion;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Augur.Model;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>batch</c>: what continuous batching can gain at most — the time of one forward step over N sequences, one
/// token each, every sequence holding <c>--context</c> cached tokens, against one sequence's decode step; the
/// throughput ratio N · t(1) / t(N) is the ceiling for "N clients versus one" before any sampling or HTTP work.
/// </summary>
static class BatchBenchmark
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "the GGUF (default: stories260K.gguf)" };
        var context = new Option<int>("--context") { Description = "cached tokens per sequence", DefaultValueFactory = _ => 200 };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var cmd = new Command("batch", "continuous batching ceiling: one step over N sequences against one decode") { model, context, json };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(model) is { } m ? (File.Exists(m) ? m : SyntheticModel.ResolvePath(m)) : SharedAssets.Model(SharedAssets.DefaultModel);
            var rows = Measure(path, r.GetValue(context)).ToList();
            var table = new Table().AddColumns("sequences", "step µs", "µs per token", "throughput ÷ one sequence");
            foreach (var (n, us, ratio) in rows) table.AddRow(n.ToString(), us.ToString("F1"), (us / n).ToString("F1"), $"{ratio:F2}×");
            AnsiConsole.Write(table);
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new { batch = rows.Select(x => new { sequences = x.Sequences, step_us = x.Us, throughput_ratio = x.Ratio }) }));
            return 0;
        });
        return cmd;
    }

    static IEnumerable<(int Sequences, double Us, double Ratio)> Measure(string path, int context)
    {
        using var loaded = LoadedModel.Open(path);
        var m = loaded.Model;
        int[] counts = [1, 2, 4, 8, 16];
        var cache = m.CreateCache(context + 1, counts[^1]);
        var batch = new Batch(m.MaxBatch);
        for (int seq = 0; seq < counts[^1]; seq++)
            for (int i = 0; i < context; i += 64)
            {
                batch.Clear();
                for (int j = i; j < Math.Min(context, i + 64); j++) batch.Add((j * 7 + seq) % m.Config.VocabSize, j, seq, logits: false);
                m.Forward(batch, cache);
            }
        double Time(int sequences)
        {
            var samples = new List<double>();
            for (int rep = 0; rep < 31; rep++)
            {
                batch.Clear();
                for (int seq = 0; seq < sequences; seq++) batch.Add((3 * seq + 1) % m.Config.VocabSize, context, seq, logits: true);
                var clock = Stopwatch.StartNew();
                m.Forward(batch, cache);
                samples.Add(clock.Elapsed.TotalMicroseconds);
                for (int seq = 0; seq < sequences; seq++) cache.Trim(seq, context);
            }
            samples.Sort();
            return samples[samples.Count / 2];
        }
        for (int pass = 0; pass < 5; pass++) foreach (int n in counts) Time(n); // warm-up: every tier of the JIT
        double one = Time(1);
        foreach (int n in counts)
        {
            double t = n == 1 ? one : Time(n);
            yield return (n, t, n * one / t);
        }
    }
}
