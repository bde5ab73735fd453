using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Augur.Cache;
using Augur.Conversion;
using Augur.Model;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>prefix</c>: time to first token of a request whose long system prompt the paged cache already holds (admitted
/// from published blocks, only the rest prefilled) against the same request cold, same run. Measured on the cache's
/// API (Admit, prefill, the first token's logits) — what the request loop gets once it admits prompts through it.
/// </summary>
static class PrefixBenchmark
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "the GGUF (default: stories260K.gguf)" };
        var system = new Option<int>("--system-tokens") { Description = "tokens of the shared system prompt", DefaultValueFactory = _ => 1500 };
        var user = new Option<int>("--user-tokens") { Description = "tokens of the request after it", DefaultValueFactory = _ => 20 };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var cmd = new Command("prefix", "time to first token with the system prompt cached vs cold") { model, system, user, json };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(model) is { } m ? (File.Exists(m) ? m : SyntheticModel.ResolvePath(m)) : SharedAssets.Model(SharedAssets.DefaultModel);
            using var loaded = LoadedModel.Open(path);
            var (cold, warm, cached) = Measure(loaded.Model, r.GetValue(system), r.GetValue(user));
            var table = new Table().AddColumns("", "time to first token", "tokens prefilled");
            table.AddRow("cold", $"{cold:F1} ms", (r.GetValue(system) + r.GetValue(user)).ToString());
            table.AddRow("system prompt cached", $"{warm:F1} ms", (r.GetValue(system) + r.GetValue(user) - cached).ToString());
            AnsiConsole.Write(table);
            Console.WriteLine($"speed-up {cold / warm:F1}×");
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(new { ttft_cold_ms = cold, ttft_warm_ms = warm, cached_tokens = cached, speedup = cold / warm }));
            return 0;
        });
        return cmd;
    }

    static (double ColdMs, double WarmMs, int Cached) Measure(ITransformer m, int systemTokens, int userTokens)
    {
        var rng = new Random(13);
        int[] prompt = [.. Enumerable.Range(0, systemTokens + userTokens).Select(_ => rng.Next(3, m.Config.VocabSize))];
        var cache = (PagedKvCache)m.CreateCache(prompt.Length + 1, 2, new KvCacheOptions { Paged = true });
        var batch = new Batch(m.MaxBatch);
        int cached = 0;
        double FirstToken(int seq)
        {
            var clock = Stopwatch.StartNew();
            int from = cached = cache.Admit(seq, prompt);
            for (int i = from; i < prompt.Length; i += batch.Capacity)
            {
                batch.Clear();
                for (int j = i; j < Math.Min(prompt.Length, i + batch.Capacity); j++) batch.Add(prompt[j], j, seq, logits: j == prompt.Length - 1);
                m.Forward(batch, cache);
            }
            _ = m.Logits(0);
            return clock.Elapsed.TotalMilliseconds;
        }
        double Median(List<double> xs) { xs.Sort(); return xs[xs.Count / 2]; }
        var cold = new List<double>();
        for (int rep = 0; rep < 4; rep++)
        {
            cache.Clear(0);
            cache.Pool.EvictUnreferenced(); // nothing cached: the whole prompt is computed
            double ms = FirstToken(0);
            if (rep > 0) cold.Add(ms); // the first run warms the JIT
        }
        cache.Publish(0, prompt.Length); // the system prompt's blocks (and the request's) are now shared
        var warm = new List<double>();
        // A new request with the same system prompt and its own question: only the user tokens differ.
        for (int i = systemTokens; i < prompt.Length; i++) prompt[i] = rng.Next(3, m.Config.VocabSize);
        for (int rep = 0; rep < 9; rep++)
        {
            cache.Clear(1);
            warm.Add(FirstToken(1));
        }
        return (Median(cold), Median(warm), cached);
    }
}
