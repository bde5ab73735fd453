using System.Text;
using System.Text.Json;

namespace Augur.ServerTests;

/// <summary>
/// Continuous batching through the HTTP API: concurrent greedy streams get exactly what they get alone (text and token
/// count). Its speed is measured by <c>bench/Augur.Bench serve-throughput</c>, not here: a test on a shared machine can
/// check only what does not depend on timing.
/// </summary>
[Collection("server")]
public sealed class ConcurrencyTests(ServerFixture server)
{
    static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog", "Lily and Ben went to the park", "One day, a big bird",
        "Tom had a red ball", "The sun was hot", "Mom said", "There was a tiny frog who lived",
    ];

    /// <summary>Streams one greedy completion and returns its text and token count.</summary>
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
        var alone = new List<(string Text, int Tokens)>();
        foreach (var p in Prompts) alone.Add(await StreamText(p, 120));
        // Staggered starts, so requests join while others are mid-decode.
        var together = await Task.WhenAll(Prompts.Select(async (p, i) =>
        {
            await Task.Delay(i * 5);
            return await StreamText(p, 120);
        }));
        for (int i = 0; i < Prompts.Length; i++) Assert.Equal(alone[i], together[i]);
        Assert.Equal(Prompts.Length, alone.Select(a => a.Text).Distinct().Count());
    }
}
