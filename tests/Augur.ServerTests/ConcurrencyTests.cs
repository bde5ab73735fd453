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

    /// <summary>Streams one completion and returns its text and token count.</summary>
    async Task<(string Text, int Tokens)> StreamText(string prompt, int maxTokens)
    {
        string body = JsonSerializer.Serialize(new { prompt, max_tokens = maxTokens, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        var events = await server.StreamAsync("v1/completions", body);
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

    /// <summary>Logs tokens/s with 1 client and with 8 at once (asserts nothing about timing: see docs/benchmarks.md).</summary>
    [Fact]
    public async Task Throughput_eight_clients_versus_one()
    {
        const int tokens = 200;
        await StreamText(Prompts[0], 16); // warm up
        var one = Stopwatch.StartNew();
        int single = (await StreamText(Prompts[0], tokens)).Tokens;
        one.Stop();
        var eight = Stopwatch.StartNew();
        var results = await Task.WhenAll(Prompts.Select(p => StreamText(p, tokens)));
        eight.Stop();
        int total = results.Sum(r => r.Tokens);
        Assert.Equal(tokens, single);
        Assert.Equal(8 * tokens, total);
        double rate1 = single / one.Elapsed.TotalSeconds, rate8 = total / eight.Elapsed.TotalSeconds;
        output.WriteLine($"1 client: {single} tokens in {one.Elapsed.TotalSeconds:F2} s = {rate1:F0} tok/s");
        output.WriteLine($"8 clients: {total} tokens in {eight.Elapsed.TotalSeconds:F2} s = {rate8:F0} tok/s ({rate8 / rate1:F2}x)");
    }
}
