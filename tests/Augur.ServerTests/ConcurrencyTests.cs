using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Augur.ServerTests;

/// <summary>Continuous batching through the HTTP API: concurrent greedy streams get exactly what they get alone.</summary>
[Collection("server")]
public sealed class ConcurrencyTests(ServerFixture server, ITestOutputHelper output)
{
    static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog", "Lily and Ben went to the park", "One day, a big bird",
        "Tom had a red ball", "The sun was hot", "Mom said", "There was a tiny frog who lived",
    ];

    Task<(string Text, int Tokens)> StreamText(string prompt, int maxTokens) => StreamText(server.Http, server.Base, prompt, maxTokens);

    /// <summary>Streams one greedy completion and returns its text and token count.</summary>
    static async Task<(string Text, int Tokens)> StreamText(HttpClient http, Uri server, string prompt, int maxTokens)
    {
        string body = JsonSerializer.Serialize(new { prompt, max_tokens = maxTokens, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        var events = await ServerFixture.StreamAsync(http, new Uri(server, "v1/completions"), body);
        Assert.Equal("[DONE]", events[^1]);
        var text = new StringBuilder();
        int tokens = 0;
        foreach (var e in events[..^1])
        {
            var chunk = JsonDocument.Parse(e).RootElement;
            if (chunk.GetProperty("choices").GetArrayLength() > 0) text.Append(chunk.GetProperty("choices")[0].GetProperty("text").GetString());
            if (chunk.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object) tokens = usage.GetProperty("completion_tokens").GetInt32();
        }
        return (text.ToString(), tokens);
    }

    [Fact]
    public async Task Eight_greedy_streams_at_once_match_each_alone()
    {
        var alone = new List<string>();
        foreach (var p in Prompts) alone.Add((await StreamText(p, 120)).Text);
        // Staggered starts, so requests join while others are mid-decode.
        var together = await Task.WhenAll(Prompts.Select(async (p, i) =>
        {
            await Task.Delay(i * 5);
            return (await StreamText(p, 120)).Text;
        }));
        for (int i = 0; i < Prompts.Length; i++) Assert.Equal(alone[i], together[i]);
        Assert.Equal(Prompts.Length, alone.Distinct().Count());
    }

    /// <summary>
    /// Logs tokens/s with 1 streaming client and with 8 at once, over seven rounds and their median. It asserts
    /// nothing about timing (the machine is shared); the numbers go to docs/benchmarks.md. The model is stories260K,
    /// or the GGUF named by AUGUR_THROUGHPUT_MODEL (e.g. from <c>augur synth --preset 110m</c>), which gets 64
    /// tokens per request instead of 400 so a round stays short.
    /// </summary>
    [Fact]
    public async Task Throughput_eight_clients_versus_one()
    {
        const int Rounds = 7;
        string? model = Environment.GetEnvironmentVariable("AUGUR_THROUGHPUT_MODEL");
        int tokens = model is null ? 400 : 64;
        await using var bench = await ServerFixture.StartAsync(new Augur.Server.ServerOptions { ModelPath = model ?? ServerFixture.ModelPath, Port = 0, Parallel = 8 });
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        Task<(string Text, int Tokens)> Run(string prompt) => StreamText(http, bench.Address, prompt, tokens);

        // Warm-up until the JIT has settled (its later tiers arrive after a few hundred milliseconds of decoding),
        // both with one client and with eight.
        for (int round = 0; round < 3; round++)
        {
            await Run(Prompts[0]);
            await Task.WhenAll(Prompts.Select(Run));
        }
        // A round: one client sends three requests one after another, then eight clients one request each at once.
        var rates = new List<(double One, double Eight)>();
        for (int round = 1; round <= Rounds; round++)
        {
            var one = Stopwatch.StartNew();
            int single = 0;
            for (int i = 0; i < 3; i++) single += (await Run(Prompts[i])).Tokens;
            one.Stop();
            var eight = Stopwatch.StartNew();
            var results = await Task.WhenAll(Prompts.Select(Run));
            eight.Stop();
            int total = results.Sum(r => r.Tokens);
            Assert.True(single > 0 && results.All(r => r.Tokens > 0));
            rates.Add((single / one.Elapsed.TotalSeconds, total / eight.Elapsed.TotalSeconds));
            output.WriteLine($"round {round}: 1 client {single} tokens in {one.Elapsed.TotalSeconds:F3} s = {rates[^1].One:F1} tok/s; " +
                             $"8 clients {total} tokens in {eight.Elapsed.TotalSeconds:F3} s = {rates[^1].Eight:F1} tok/s; ratio {rates[^1].Eight / rates[^1].One:F2}x");
        }
        double Median(IEnumerable<double> xs) => xs.Order().ElementAt(Rounds / 2);
        double m1 = Median(rates.Select(r => r.One)), m8 = Median(rates.Select(r => r.Eight));
        output.WriteLine($"{Path.GetFileName(model ?? ServerFixture.ModelPath)} median: 1 client {m1:F1} tok/s; 8 clients {m8:F1} tok/s; ratio {m8 / m1:F2}x");
    }
}
