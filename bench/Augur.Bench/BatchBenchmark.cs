using Augur.Conversion;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Augur.Cache;
using Augur.Model;
using Augur.Tensors;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>batch</c>: what continuous batching can gain at most — the time of one forward step over N sequences, one
/// token each, every sequence holding <c>--context</c> cached tokens, against one sequence's decode step; the
/// throughput ratio N · t(1) / t(N) is the ceiling for "N clients versus one" before any sampling or HTTP work.
/// The same steps run on the dense cache and on the paged one (pool the dense cache's size), same run: their ratio
/// is what the block table costs.
/// </summary>
static class BatchBenchmark
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "the GGUF (default: stories260K.gguf)" };
        var context = new Option<int>("--context") { Description = "cached tokens per sequence", DefaultValueFactory = _ => 200 };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var sharedPrefix = new Option<int>("--shared-prefix") { Description = "instead: sequences sharing this many prompt tokens, shared blocks (Hydragen) against unshared copies" };
        var sequences = new Option<int>("--sequences") { Description = "with --shared-prefix: how many sequences", DefaultValueFactory = _ => 16 };
        var cmd = new Command("batch", "continuous batching ceiling: one step over N sequences against one decode") { model, context, json, sharedPrefix, sequences };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(model) is { } m ? (File.Exists(m) ? m : SyntheticModel.ResolvePath(m)) : SharedAssets.Model(SharedAssets.DefaultModel);
            using var loaded = LoadedModel.Open(path);
            if (r.GetValue(sharedPrefix) > 0) return SharedPrefix(loaded.Model, r.GetValue(sharedPrefix), r.GetValue(sequences), r.GetValue(json));
            var rows = Measure(loaded.Model, r.GetValue(context), new KvCacheOptions()).ToList();
            var paged = Measure(loaded.Model, r.GetValue(context), new KvCacheOptions { Paged = true }).ToList();
            var table = new Table().AddColumns("sequences", "step µs", "µs per token", "throughput ÷ one sequence", "paged step µs", "paged ÷ dense time");
            for (int i = 0; i < rows.Count; i++)
            {
                var (n, us, ratio) = rows[i];
                table.AddRow(n.ToString(), us.ToString("F1"), (us / n).ToString("F1"), $"{ratio:F2}×", paged[i].Us.ToString("F1"), $"{paged[i].Us / us:F3}");
            }
            AnsiConsole.Write(table);
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    batch = rows.Select((x, i) => new { sequences = x.Sequences, step_us = x.Us, throughput_ratio = x.Ratio, paged_step_us = paged[i].Us, paged_time_ratio = paged[i].Us / x.Us }),
                }));
            return 0;
        });
        return cmd;
    }

    static int SharedPrefix(ITransformer m, int prefix, int sequences, bool json)
    {
        var x = SharedPrefixBenchmark.Measure(m, prefix, sequences);
        var table = new Table().AddColumns("", "unshared", "shared prefix", "speed-up");
        table.AddRow("attention µs (all layers)", x.AttentionUsUnshared.ToString("F1"), x.AttentionUsShared.ToString("F1"), $"{x.AttentionSpeedup:F2}×");
        table.AddRow("attention µs, Hydragen off", "", x.AttentionUsSharedWithoutHydragen.ToString("F1"), $"{x.AttentionUsUnshared / x.AttentionUsSharedWithoutHydragen:F2}×");
        table.AddRow("decode step µs", x.StepUsUnshared.ToString("F1"), x.StepUsShared.ToString("F1"), $"{x.StepSpeedup:F2}×");
        table.AddRow("KV bytes held", x.KvBytesUnshared.ToString("N0"), x.KvBytesShared.ToString("N0"), $"{(double)x.KvBytesUnshared / x.KvBytesShared:F2}×");
        AnsiConsole.Write(table);
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                shared_prefix = x.SharedPrefix, sequences = x.Sequences,
                attention_us_unshared = x.AttentionUsUnshared, attention_us_shared = x.AttentionUsShared, attention_us_shared_without_hydragen = x.AttentionUsSharedWithoutHydragen,
                step_us_unshared = x.StepUsUnshared, step_us_shared = x.StepUsShared, kv_bytes_unshared = x.KvBytesUnshared, kv_bytes_shared = x.KvBytesShared,
                attention_speedup = x.AttentionSpeedup, step_speedup = x.StepSpeedup,
            }));
        return 0;
    }

    static IEnumerable<(int Sequences, double Us, double Ratio)> Measure(ITransformer m, int context, KvCacheOptions kv)
    {
        int[] counts = [1, 2, 4, 8, 16];
        var cache = m.CreateCache(context + 1, counts[^1], kv);
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

/// <summary>
/// <c>batch --shared-prefix N --sequences S</c>: S sequences whose prompts share their first N tokens, one decode step
/// each, on a paged cache where the prefix blocks are shared (Hydragen attends them once for all queries) against the
/// same S sequences each holding its own copy, same run. Attention is timed alone (every layer's Attend over the same
/// placed step, random queries) and as part of the whole forward step.
/// </summary>
static class SharedPrefixBenchmark
{
    public sealed record Result(int SharedPrefix, int Sequences, double AttentionUsUnshared, double AttentionUsShared, double AttentionUsSharedWithoutHydragen,
        double StepUsUnshared, double StepUsShared, long KvBytesUnshared, long KvBytesShared)
    {
        public double AttentionSpeedup => AttentionUsUnshared / AttentionUsShared;
        public double StepSpeedup => StepUsUnshared / StepUsShared;
    }

    public static unsafe Result Measure(ITransformer m, int prefix, int sequences)
    {
        var c = m.Config;
        var rng = new Random(1500);
        int[] shared = [.. Enumerable.Range(0, prefix).Select(_ => rng.Next(3, c.VocabSize))];
        var prompts = Enumerable.Range(0, sequences).Select(_ => (int[])[.. shared, .. Enumerable.Range(0, 16).Select(_ => rng.Next(3, c.VocabSize))]).ToArray();
        int context = prompts[0].Length + 8;
        var options = new KvCacheOptions { Type = KvType.F32, Paged = true };
        var unshared = (PagedKvCache)m.CreateCache(context, sequences, options);
        var sharing = (PagedKvCache)m.CreateCache(context, sequences, options);
        var batch = new Batch(m.MaxBatch);
        void Prefill(IKvCache cache, int seq, int from)
        {
            for (int i = from; i < prompts[seq].Length; i += batch.Capacity)
            {
                batch.Clear();
                for (int j = i; j < Math.Min(prompts[seq].Length, i + batch.Capacity); j++) batch.Add(prompts[seq][j], j, seq, logits: false);
                m.Forward(batch, cache);
            }
        }
        for (int s = 0; s < sequences; s++)
        {
            Prefill(unshared, s, 0);
            Prefill(sharing, s, sharing.Admit(s, prompts[s]));
            sharing.Publish(s, prompts[s].Length);
        }

        var heads = new AttentionHeads(c.Heads, c.QueriesPerKv, c.HeadDim, c.AttentionScale);
        var q = GC.AllocateArray<float>(sequences * c.QDim, pinned: true);
        var k = GC.AllocateArray<float>(sequences * c.KvDim, pinned: true);
        var o = GC.AllocateArray<float>(sequences * c.QDim, pinned: true);
        for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() - 0.5);
        for (int i = 0; i < k.Length; i++) k[i] = (float)(rng.NextDouble() - 0.5);
        int[] tokens = [.. Enumerable.Range(0, sequences).Select(s => 5 + s)], seqs = [.. Enumerable.Range(0, sequences)], parents = [.. seqs.Select(_ => -1)];
        double Median(Func<double> once)
        {
            for (int i = 0; i < 3; i++) once();
            var samples = Enumerable.Range(0, 15).Select(_ => once()).Order().ToList();
            return samples[samples.Count / 2];
        }
        double Attention(PagedKvCache cache) => Median(() =>
        {
            cache.Place(tokens, seqs, parents);
            fixed (float* qp = q, kp = k, op = o)
            {
                for (int l = 0; l < c.Layers; l++) cache.Write(l, kp, kp);
                var clock = Stopwatch.StartNew();
                for (int l = 0; l < c.Layers; l++) cache.Attend(l, heads, 0, qp, op, WorkerPool.Shared);
                double us = clock.Elapsed.TotalMicroseconds;
                for (int s = 0; s < sequences; s++) cache.Trim(s, prompts[s].Length);
                return us;
            }
        });
        double Step(PagedKvCache cache) => Median(() =>
        {
            batch.Clear();
            for (int s = 0; s < sequences; s++) batch.Add(tokens[s], prompts[s].Length, s, logits: true);
            var clock = Stopwatch.StartNew();
            m.Forward(batch, cache);
            double us = clock.Elapsed.TotalMicroseconds;
            for (int s = 0; s < sequences; s++) cache.Trim(s, prompts[s].Length);
            return us;
        });
        double attentionUnshared = Attention(unshared), attentionShared = Attention(sharing);
        sharing.SharedPrefixAttention = false;
        double attentionSharedOff = Attention(sharing);
        sharing.SharedPrefixAttention = true;
        double stepUnshared = Step(unshared), stepShared = Step(sharing);
        return new Result(prefix, sequences, attentionUnshared, attentionShared, attentionSharedOff, stepUnshared, stepShared, unshared.ByteSize, sharing.ByteSize);
    }
}
