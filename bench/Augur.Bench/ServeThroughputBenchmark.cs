using Augur.Conversion;
using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Augur.Server;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// <c>serve-throughput</c>: generated tokens per second through the HTTP API with 1 streaming client and with 8 at
/// once, against one server with 8 slots (<c>augur serve --parallel 8</c>). A round is one client sending three
/// greedy requests one after another, then eight clients one request each at once; warm-up rounds first (the JIT's
/// later tiers arrive after a few hundred milliseconds of decoding), then the median of <c>--rounds</c>. The clients
/// run in this process, on the same cores as the server. Each concurrent client's text is also compared with what
/// it got alone (continuous batching must not change greedy output; the server tests check that too).
/// </summary>
static class ServeThroughputBenchmark
{
    static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog", "Lily and Ben went to the park", "One day, a big bird",
        "Tom had a red ball", "The sun was hot", "Mom said", "There was a tiny frog who lived",
    ];

    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "the GGUF (default: stories260K.gguf)" };
        var tokens = new Option<int>("--tokens") { Description = "tokens per request", DefaultValueFactory = _ => 400 };
        var rounds = new Option<int>("--rounds") { Description = "measured rounds; the median is reported", DefaultValueFactory = _ => 7 };
        var warmup = new Option<int>("--warmup") { Description = "unmeasured rounds first", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "end with one JSON line of the results" };
        var cmd = new Command("serve-throughput", "continuous batching through the server: tokens/s of 8 streaming clients against 1") { model, tokens, rounds, warmup, json };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(model) is { } m ? (File.Exists(m) ? m : SyntheticModel.ResolvePath(m)) : SharedAssets.Model(SharedAssets.DefaultModel);
            var result = Measure(path, r.GetValue(tokens), r.GetValue(rounds), r.GetValue(warmup)).GetAwaiter().GetResult();
            var table = new Table().AddColumns("round", "1 client, tok/s", "8 clients, tok/s", "8 ÷ 1");
            for (int i = 0; i < result.Rounds.Count; i++)
                table.AddRow((i + 1).ToString(), result.Rounds[i].One.ToString("F1"), result.Rounds[i].Eight.ToString("F1"), $"{result.Rounds[i].Eight / result.Rounds[i].One:F2}×");
            table.AddRow("median", result.One.ToString("F1"), result.Eight.ToString("F1"), $"{result.Eight / result.One:F2}×");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine(result.Identical ? "8 concurrent texts identical to each alone: yes" : "[red]8 concurrent texts identical to each alone: NO[/]");
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new { model = Path.GetFileName(path), tokens_per_request = r.GetValue(tokens), one_client_tps = result.One, eight_clients_tps = result.Eight, ratio = result.Eight / result.One, identical = result.Identical }));
            return result.Identical ? 0 : 1;
        });
        return cmd;
    }

    sealed record Result(List<(double One, double Eight)> Rounds, double One, double Eight, bool Identical);

    static async Task<Result> Measure(string path, int tokens, int rounds, int warmup)
    {
        await using var server = AugurServer.Create(new ServerOptions { ModelPath = path, Port = 0, Parallel = 8 });
        await server.StartAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        Task<(string Text, int Tokens)> Run(string prompt) => StreamText(http, server.Address, prompt, tokens);

        var alone = new List<string>();
        foreach (var p in Prompts) alone.Add((await Run(p)).Text);
        bool identical = true;
        for (int round = 0; round < warmup; round++)
        {
            await Run(Prompts[0]);
            await Task.WhenAll(Prompts.Select(Run));
        }
        var rates = new List<(double One, double Eight)>();
        for (int round = 0; round < rounds; round++)
        {
            var one = Stopwatch.StartNew();
            int single = 0;
            for (int i = 0; i < 3; i++) single += (await Run(Prompts[i])).Tokens;
            one.Stop();
            var eight = Stopwatch.StartNew();
            var together = await Task.WhenAll(Prompts.Select(Run));
            eight.Stop();
            identical &= together.Select(t => t.Text).SequenceEqual(alone);
            rates.Add((single / one.Elapsed.TotalSeconds, together.Sum(t => t.Tokens) / eight.Elapsed.TotalSeconds));
        }
        double Median(IEnumerable<double> xs) => xs.Order().ElementAt(rounds / 2);
        return new Result(rates, Median(rates.Select(r => r.One)), Median(rates.Select(r => r.Eight)), identical);
    }

    /// <summary>Streams one greedy completion; returns its text and its completion token count (from the usage chunk).</summary>
    static async Task<(string Text, int Tokens)> StreamText(HttpClient http, Uri server, string prompt, int maxTokens)
    {
        string body = JsonSerializer.Serialize(new { prompt, max_tokens = maxTokens, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server, "v1/completions")) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var text = new StringBuilder();
        int tokens = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
            var chunk = JsonDocument.Parse(line["data: ".Length..]).RootElement;
            if (chunk.GetProperty("choices").GetArrayLength() > 0) text.Append(chunk.GetProperty("choices")[0].GetProperty("text").GetString());
            if (chunk.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object) tokens = usage.GetProperty("completion_tokens").GetInt32();
        }
        return (text.ToString(), tokens);
    }
}
