using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Augur.Conversion;
using Augur.Model;
using Augur.Tokenizers;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>cluster</c>: placement on a prefix-heavy workload, cache-aware against round-robin in the same run. For each
/// policy, <c>augur serve --cluster local:N --placement P</c> is started as users start it (a gateway and N node
/// processes on loopback); the workload is a few long shared system prompts (TinyStories text cut to a token count),
/// each followed by short distinct user turns, interleaved across prompts and sent by several streaming clients at
/// once, as raw token-id completions (no template, so every request is exactly prefix + turn). Each round starts a
/// fresh cluster per policy, the order alternating between rounds; the rounds are pooled. Reported per policy:
/// time to first token (mean, median, p90) as the clients see it, and from <c>GET /cluster</c> the prompt tokens each
/// node ran and how many it found cached (its prefix hits). The hit counts stay 0 until nodes keep a request's KV
/// blocks after it ends (the paged cache with prefix caching); until then cache-aware placement can only group
/// requests whose prefixes run at the same time.
/// </summary>
static class ClusterBenchmark
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "the GGUF (default: a tiny synthetic Llama with stories260K's 512-piece vocabulary and a 2048-token context)" };
        var nodes = new Option<int>("--nodes") { Description = "worker processes", DefaultValueFactory = _ => 2 };
        var parallel = new Option<int>("--parallel") { Description = "requests decoded together per node", DefaultValueFactory = _ => 2 };
        var prefixes = new Option<int>("--prefixes") { Description = "distinct system prompts", DefaultValueFactory = _ => 4 };
        var prefixTokens = new Option<int>("--prefix-tokens") { Description = "tokens per system prompt", DefaultValueFactory = _ => 1000 };
        var turns = new Option<int>("--turns") { Description = "user turns per system prompt", DefaultValueFactory = _ => 6 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "tokens generated per request", DefaultValueFactory = _ => 8 };
        var clients = new Option<int>("--clients") { Description = "streaming clients at once", DefaultValueFactory = _ => 4 };
        var rounds = new Option<int>("--rounds") { Description = "fresh clusters per policy, the order of the policies alternating; results pooled", DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var cmd = new Command("cluster", "cache-aware vs round-robin placement over serve --cluster local:N: time to first token and prefix hits")
            { model, nodes, parallel, prefixes, prefixTokens, turns, maxTokens, clients, rounds, json };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(model) is { } m ? (File.Exists(m) ? m : SyntheticModel.ResolvePath(m)) : TinyModel();
            var workload = Workload(path, r.GetValue(prefixes), r.GetValue(prefixTokens), r.GetValue(turns));
            string[] placements = ["cache-aware", "round-robin"];
            var runs = new List<Result>();
            for (int round = 0; round < r.GetValue(rounds); round++)
                foreach (string placement in round % 2 == 0 ? placements : placements.Reverse())
                    runs.Add(Measure(path, placement, r.GetValue(nodes), r.GetValue(parallel), r.GetValue(clients), r.GetValue(maxTokens), workload).GetAwaiter().GetResult());
            var results = placements.Select(p => Result.Pool(runs.Where(x => x.Placement == p).ToList())).ToList();

            var table = new Table().AddColumns("placement", "requests", "TTFT ms: mean", "p50", "p90", "wall s", "prompt tok", "cached", "hits", "per node");
            foreach (var x in results)
                table.AddRow(x.Placement, x.Ttft.Length.ToString(), x.Mean.ToString("F1"), x.Percentile(0.5).ToString("F1"), x.Percentile(0.9).ToString("F1"),
                    x.Wall.ToString("F1"), x.PromptTokens.ToString(), x.CachedTokens.ToString(), $"{x.HitRate:P1}", string.Join(" / ", x.PerNode));
            AnsiConsole.Write(table);
            var (aware, robin) = (results[0], results[1]);
            AnsiConsole.WriteLine($"mean TTFT round-robin ÷ cache-aware: {robin.Mean / aware.Mean:F2}×");
            if (aware.CachedTokens + robin.CachedTokens == 0)
                AnsiConsole.WriteLine("no node reported a cached prompt token: nodes do not keep KV blocks after a request ends yet (paged cache with prefix caching).");
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    model = Path.GetFileName(path), nodes = r.GetValue(nodes), parallel = r.GetValue(parallel), prefixes = r.GetValue(prefixes),
                    prefix_tokens = r.GetValue(prefixTokens), turns = r.GetValue(turns), max_tokens = r.GetValue(maxTokens), clients = r.GetValue(clients),
                    results = results.Select(x => new
                    {
                        placement = x.Placement, requests = x.Ttft.Length, ttft_mean_ms = x.Mean, ttft_median_ms = x.Percentile(0.5), ttft_p90_ms = x.Percentile(0.9),
                        wall_s = x.Wall, prompt_tokens = x.PromptTokens, cached_prompt_tokens = x.CachedTokens, hit_rate = x.HitRate, prompt_tokens_per_node = x.PerNode,
                    }),
                    ttft_ratio_round_robin_over_cache_aware = robin.Mean / aware.Mean,
                }));
            return 0;
        });
        return cmd;
    }

    sealed record Result(string Placement, double[] Ttft, double Wall, long PromptTokens, long CachedTokens, long[] PerNode)
    {
        public double Mean => Ttft.Average();
        public double HitRate => PromptTokens == 0 ? 0 : (double)CachedTokens / PromptTokens;
        public double Percentile(double q) => Ttft.Order().ElementAt(Math.Min(Ttft.Length - 1, (int)(q * Ttft.Length)));

        /// <summary>Several runs of one policy as one: every request's TTFT, wall times and token counts added up.</summary>
        public static Result Pool(List<Result> runs) => new(runs[0].Placement, [.. runs.SelectMany(x => x.Ttft)], runs.Sum(x => x.Wall),
            runs.Sum(x => x.PromptTokens), runs.Sum(x => x.CachedTokens), [.. runs[0].PerNode.Select((_, i) => runs.Sum(x => x.PerNode.ElementAtOrDefault(i)))]);
    }

    /// <summary>The default model: tiny (dim 256, 2 layers), written once to the synthetic-model folder.</summary>
    static string TinyModel()
    {
        string path = SyntheticModel.ResolvePath("cluster-bench-tiny.gguf");
        if (File.Exists(path)) return path;
        var vocab = Vocabulary.FromFile(SharedAssets.Model("tok512.model"));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        SyntheticModel.Write(path, SyntheticModel.Config(SyntheticModel.Presets["tiny"], vocab.Count), vocab);
        return path;
    }

    /// <summary>Requests as prompt ids, turn by turn across the prompts (each prompt's turns spread over the run): system
    /// prompt k is TinyStories text from story 8k on, cut to <paramref name="prefixTokens"/>; each turn is the opening
    /// line of another story, so no two requests share more than their system prompt.</summary>
    static List<int[]> Workload(string path, int prefixes, int prefixTokens, int turns)
    {
        using var loaded = LoadedModel.Open(path);
        var tokenizer = loaded.Tokenizer;
        var stories = File.ReadAllText(SharedAssets.Data("tinystories-valid-sample.txt"))
            .Split("<|endoftext|>", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (stories.Length < prefixes * 8 + turns * prefixes) throw new InvalidRequestException($"the TinyStories sample has {stories.Length} stories, too few for this workload");
        var systems = Enumerable.Range(0, prefixes).Select(k =>
        {
            var ids = new List<int>();
            for (int s = 8 * k; ids.Count < prefixTokens; s++) ids.AddRange(tokenizer.Encode(stories[s % stories.Length] + "\n", addBos: ids.Count == 0));
            return ids.Take(prefixTokens).ToArray();
        }).ToList();
        var requests = new List<int[]>();
        for (int t = 0; t < turns; t++)
            for (int k = 0; k < prefixes; k++)
            {
                string turn = stories[8 * prefixes + t * prefixes + k].Split('.')[0];
                requests.Add([.. systems[k], .. tokenizer.Encode("\nQ: " + turn + "?\nA:", addBos: false)]);
            }
        return requests;
    }

    /// <summary>Node status reaches the gateway every 250 ms: waited before reading counts, so they are complete.</summary>
    static readonly TimeSpan StatusLag = TimeSpan.FromMilliseconds(600);

    static async Task<Result> Measure(string path, string placement, int nodes, int parallel, int clients, int maxTokens, List<int[]> workload)
    {
        int port = Augur.Cluster.ClusterHosting.FreePort();
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])[Path.Combine(AppContext.BaseDirectory, "Augur.Cli.dll"), "serve", "--cluster", $"local:{nodes}", "--placement", placement,
                     "--port", port.ToString(), "-m", path, "--parallel", parallel.ToString(), "--ctx", (workload.Max(w => w.Length) + maxTokens + 1).ToString()])
            start.ArgumentList.Add(a);
        using var server = Process.Start(start)!;
        var log = new StringBuilder();
        server.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        server.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            var address = new Uri($"http://127.0.0.1:{port}/");
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
            await WaitForNodes(http, address, nodes, server, log);
            // JIT warm-up on every node with an unrelated prompt, so the first measured requests do not pay for it.
            var warm = workload[0][..8];
            for (int i = 0; i < 2; i++) await Task.WhenAll(Enumerable.Range(0, nodes * parallel).Select(_ => Stream(http, address, warm, maxTokens)));
            await Task.Delay(StatusLag);
            var before = await NodeCounts(http, address);

            var queue = new System.Collections.Concurrent.ConcurrentQueue<int>(Enumerable.Range(0, workload.Count));
            var ttft = new double[workload.Count];
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
            {
                while (queue.TryDequeue(out int i)) ttft[i] = await Stream(http, address, workload[i], maxTokens);
            }));
            wall.Stop();
            await Task.Delay(StatusLag);
            var after = await NodeCounts(http, address);
            var perNode = after.Select(n => n.Value.Prompt - before.GetValueOrDefault(n.Key).Prompt).ToArray();
            return new Result(placement, ttft, wall.Elapsed.TotalSeconds, perNode.Sum(),
                after.Sum(n => n.Value.Cached - before.GetValueOrDefault(n.Key).Cached), perNode);
        }
        finally
        {
            try { server.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } // already gone
            server.WaitForExit();
        }
    }

    static async Task WaitForNodes(HttpClient http, Uri address, int nodes, Process server, StringBuilder log)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromMinutes(3))
        {
            if (server.HasExited) throw new InvalidOperationException($"augur serve --cluster exited ({server.ExitCode}):\n{log}");
            try
            {
                if ((await NodeCounts(http, address)).Count == nodes) return;
            }
            catch (HttpRequestException) { } // not listening yet
            await Task.Delay(250);
        }
        throw new TimeoutException($"the cluster did not list {nodes} nodes within 3 minutes:\n{log}");
    }

    /// <summary>Per node id: the prompt tokens it has run and how many it found cached.</summary>
    static async Task<Dictionary<string, (long Prompt, long Cached)>> NodeCounts(HttpClient http, Uri address)
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri(address, "cluster")));
        return doc.RootElement.GetProperty("nodes").EnumerateArray().ToDictionary(n => n.GetProperty("id").GetString()!,
            n => (n.GetProperty("prompt_tokens").GetInt64(), n.GetProperty("cached_prompt_tokens").GetInt64()));
    }

    /// <summary>Streams one greedy completion of <paramref name="prompt"/> (token ids); returns the milliseconds until its first token arrived.</summary>
    static async Task<double> Stream(HttpClient http, Uri address, int[] prompt, int maxTokens)
    {
        string body = JsonSerializer.Serialize(new { prompt, max_tokens = maxTokens, temperature = 0, stream = true });
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(address, "v1/completions")) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double first = double.NaN;
        while (await reader.ReadLineAsync() is { } line)
            if (double.IsNaN(first) && line.StartsWith("data: {", StringComparison.Ordinal)) first = clock.Elapsed.TotalMilliseconds;
        return first;
    }
}
